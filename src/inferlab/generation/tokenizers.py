"""Tokenizers from installed packages, no hub and no network at run time.

- ``llama3``: Llama 3 / 3.1 (128,000 tiktoken ranks from the ``llama-models`` wheel's
  ``llama_models/llama3/tokenizer.model`` + 256 special tokens, 128,256 ids), as the HF
  Llama-3.1 Instruct tokenizer: ``<|begin_of_text|>`` prepended with ``add_special_tokens``,
  eos ``<|eot_id|>``.
- ``gpt2``: GPT-J's tokenizer, GPT-2's byte-level BPE (50,256 ranks from ``openai-whisper``'s
  ``whisper/assets/gpt2.tiktoken`` + ``<|endoftext|>`` = 50256; GPT-J's model config pads its
  embedding to 50,400 ids, the tokenizer has 50,257). openai-whisper is found through its
  installed files, never imported (that would pull torch and numba).

The tiktoken ranks are converted once into a ``tokenizers`` BPE (vocab in GPT-2's byte-to-unicode
alphabet, merges recovered from the ranks) and cached as ``tokenizer.json`` +
``tokenizer_config.json`` under ``<cache>/tokenizers/<kind>-<sha256 of the ranks>-c<converter>``;
a later load reads the cache. A directory the user gives that holds ``tokenizer.json`` (a model's
``--model-path``) wins over the packaged one.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from inferlab.core.errors import ConfigError, ModelError
from inferlab.core.files import atomic_write_text

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

TokenizerKind = Literal["llama3", "gpt2"]
KINDS: tuple[str, ...] = ("llama3", "gpt2")

# Bump when the conversion below changes: the cache key carries it, so old caches are not reused.
CONVERTER_VERSION = 1

# The split patterns: Llama 3's from llama_models/llama3/tokenizer.py (Tokenizer.pat_str), GPT-2's
# is the ``tokenizers`` ByteLevel pre-tokenizer's built-in one (the same as tiktoken's "gpt2").
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
LLAMA3_BASE_RANKS = 128_000
LLAMA3_NUM_SPECIAL = 256
# Ids 128000..128011 in this order; the rest are reserved tokens. Names as in the HF Llama-3.1
# tokenizer (llama-models 0.3.0 names 128005 <|step_id|> and 128011 <|image|>, Llama 3.2's).
LLAMA3_NAMED_SPECIALS = (
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>",
    "<|reserved_special_token_2|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eom_id|>",
    "<|eot_id|>",
    "<|python_tag|>",
)
GPT2_BASE_RANKS = 50_256
# sha256 of the ranks files the known ids were verified on: llama-models 0.3.0's tokenizer.model
# (Meta's Llama 3 / 3.1 original/tokenizer.model) and openai-whisper 20250625's gpt2.tiktoken
KNOWN_SHA256 = {
    "llama3": "82e9d31979e92ab929cd544440f129d9ecd797b69e327f80f17e1c50d5551b55",
    "gpt2": "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
}
GPT2_EOT = "<|endoftext|>"


def llama3_special_tokens() -> list[str]:
    """The 256 special tokens in id order (128000 + index): 11 named, then
    ``<|reserved_special_token_3|>`` .. ``<|reserved_special_token_247|>``."""
    named = list(LLAMA3_NAMED_SPECIALS)
    reserved = [
        f"<|reserved_special_token_{3 + i}|>" for i in range(LLAMA3_NUM_SPECIAL - len(named))
    ]
    return named + reserved


@dataclass(frozen=True)
class _Asset:
    package: str  # the distribution's name, as pip installs it
    files: tuple[str, ...]  # where its installed files may hold the ranks, newest layout first
    base_ranks: int
    install: str  # the pip command that brings it


ASSETS: dict[str, _Asset] = {
    "llama3": _Asset(
        package="llama-models",
        files=("llama_models/llama3/tokenizer.model", "llama_models/llama3/api/tokenizer.model"),
        base_ranks=LLAMA3_BASE_RANKS,
        install="pip install 'llama-models==0.3.0'",
    ),
    "gpt2": _Asset(
        package="openai-whisper",
        files=("whisper/assets/gpt2.tiktoken",),
        base_ranks=GPT2_BASE_RANKS,
        # --no-deps: only its asset files are read; its dependencies (torch, numba, triton) are
        # hundreds of MB that nothing here uses
        install="pip install --no-deps 'openai-whisper==20250625'",
    ),
}


# ---- where a tokenizer comes from --------------------------------------------------------------


def default_cache_dir() -> Path:
    """The inferlab cache: ``$XDG_CACHE_HOME/inferlab`` or ``~/.cache/inferlab``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "inferlab"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class TokenizerSource:
    """Where a tokenizer comes from: a user's directory, or a packaged ranks file converted into
    the cache. ``describe()`` is what result.json records; ``load()`` builds the tokenizer."""

    kind: str
    origin: Literal["user_dir", "package"]
    path: Path  # the user's tokenizer.json, or the packaged ranks file
    sha256: str  # of that file
    package: str | None = None
    package_version: str | None = None
    cache_dir: Path | None = None  # the converted tokenizer's directory (origin "package")

    @property
    def tokenizer_dir(self) -> Path:
        return self.path.parent if self.origin == "user_dir" else self._cached()

    def _cached(self) -> Path:
        assert self.cache_dir is not None
        return self.cache_dir

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "origin": self.origin,
            "file": str(self.path),
            "sha256": self.sha256,
        }
        if self.origin == "package":
            out |= {
                "package": self.package,
                "package_version": self.package_version,
                # the file the tests' known ids were checked on (another release may differ)
                "known_file": KNOWN_SHA256.get(self.kind) == self.sha256,
                "converter_version": CONVERTER_VERSION,
                "converted": str(self.cache_dir),
            }
        return out

    def load(self) -> PreTrainedTokenizerFast:
        if self.origin == "user_dir":
            return _load_dir(self.path.parent, auto=True)
        target = self._cached()
        files = (target / "tokenizer.json", target / "tokenizer_config.json")
        if all(f.is_file() for f in files):
            try:
                return _load_dir(target, auto=False)
            except ModelError:  # a damaged cache entry: convert again, once
                pass
        convert_to_dir(self.kind, self.path, target)
        return _load_dir(target, auto=False)


def packaged_asset(kind: str) -> tuple[Path, str, str]:
    """(ranks file, package name, package version) of an installed package, without importing
    it; ``ModelError`` naming the pip command when the package or its file is missing."""
    asset = _asset(kind)
    try:
        dist = importlib.metadata.distribution(asset.package)
    except importlib.metadata.PackageNotFoundError:
        raise ModelError(
            f"the {kind} tokenizer comes from the Python package {asset.package}, "
            "which is not installed (or give a tokenizer directory holding tokenizer.json)",
            fix=asset.install,
        ) from None
    for rel in asset.files:
        path = Path(str(dist.locate_file(rel)))
        if path.is_file():
            return path, asset.package, dist.version
    raise ModelError(
        f"{asset.package} {dist.version} is installed but has none of {', '.join(asset.files)}",
        fix=asset.install,
    )


def resolve_tokenizer(
    kind: TokenizerKind | str,
    *,
    user_dir: Path | None = None,
    cache_dir: Path | None = None,
) -> TokenizerSource:
    """The source :func:`load_tokenizer` would use. ``user_dir`` (a ``--model-path``) wins when
    it holds ``tokenizer.json``; without one, the packaged tokenizer is used. ``cache_dir`` is
    the inferlab cache root (default :func:`default_cache_dir`)."""
    _asset(kind)
    if user_dir is not None:
        user_dir = Path(user_dir).expanduser()
        # a directory holding tokenizer.json, or that file itself; anything else (a weights
        # file, a directory of weights only) leaves the packaged tokenizer in use
        tok_json = user_dir if user_dir.name == "tokenizer.json" else user_dir / "tokenizer.json"
        if tok_json.is_file():
            return TokenizerSource(kind, "user_dir", tok_json, _sha256(tok_json))
        if not user_dir.exists():
            raise ConfigError(
                f"tokenizer directory {user_dir} does not exist",
                fix="give a directory holding tokenizer.json, or leave it out to use the "
                f"packaged {kind} tokenizer",
            )
    path, package, version = packaged_asset(kind)
    digest = _sha256(path)
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    target = root / "tokenizers" / f"{kind}-{digest[:16]}-c{CONVERTER_VERSION}"
    return TokenizerSource(kind, "package", path, digest, package, version, target)


def load_tokenizer(
    kind: TokenizerKind | str,
    *,
    user_dir: Path | None = None,
    cache_dir: Path | None = None,
) -> PreTrainedTokenizerFast:
    """A ``transformers`` fast tokenizer for ``kind`` ("llama3" or "gpt2"); see
    :func:`resolve_tokenizer` for where it comes from."""
    return resolve_tokenizer(kind, user_dir=user_dir, cache_dir=cache_dir).load()


def _asset(kind: str) -> _Asset:
    if kind not in ASSETS:
        raise ConfigError(f"unknown tokenizer kind {kind!r}", fix=f"use one of: {', '.join(KINDS)}")
    return ASSETS[kind]


def _transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise ModelError(
            "the LLM tokenizers need the Python package transformers",
            fix="pip install 'inferlab[llm]' (or pip install -r requirements.txt)",
        ) from None
    return transformers


def _load_dir(directory: Path, *, auto: bool) -> PreTrainedTokenizerFast:
    transformers = _transformers()
    try:
        if auto:  # the user's directory: its own tokenizer class and settings
            tok = transformers.AutoTokenizer.from_pretrained(
                str(directory), local_files_only=True, use_fast=True
            )
        else:
            tok = transformers.PreTrainedTokenizerFast.from_pretrained(
                str(directory), local_files_only=True
            )
    except Exception as exc:  # OSError, JSON errors, the tokenizers library's own
        raise ModelError(
            f"cannot load the tokenizer in {directory}: {exc}",
            fix="give a directory with a valid tokenizer.json (and tokenizer_config.json)",
        ) from exc
    if not isinstance(tok, transformers.PreTrainedTokenizerFast):
        raise ModelError(
            f"the tokenizer in {directory} is not a fast (tokenizer.json) tokenizer",
            fix="give a directory holding tokenizer.json",
        )
    return tok


# ---- conversion --------------------------------------------------------------------------------


def read_tiktoken_ranks(path: Path, expected: int | None = None) -> dict[bytes, int]:
    """A tiktoken ranks file (one ``base64 rank`` per line) as {token bytes: rank}; the ranks
    must be 0..n-1 (``expected`` n when given)."""
    ranks: dict[bytes, int] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except ValueError as exc:
            raise ModelError(
                f"{path}:{lineno}: not a tiktoken ranks line ({exc})",
                fix="reinstall the package that ships it",
            ) from exc
    if sorted(ranks.values()) != list(range(len(ranks))) or (
        expected is not None and len(ranks) != expected
    ):
        raise ModelError(
            f"{path}: {len(ranks)} ranks, not the contiguous {expected or len(ranks)} expected",
            fix="reinstall the package that ships it",
        )
    return ranks


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map (the alphabet of byte-level BPE
    vocabularies): printable Latin-1 bytes map to themselves, the other 68 to U+0100 onwards."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    keep += range(ord("®"), ord("ÿ") + 1)
    out = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in out:
            out[b] = chr(256 + extra)
            extra += 1
    return out


def ranks_to_bpe(ranks: dict[bytes, int]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """(vocab, merges) of a byte-level BPE equal to tiktoken's on these ranks: every split of a
    token into two tokens is a merge, ordered by the merged token's rank, then by the parts'."""
    alphabet = bytes_to_unicode()

    def text(b: bytes) -> str:
        return "".join(alphabet[x] for x in b)

    vocab = {text(token): rank for token, rank in ranks.items()}
    found: list[tuple[int, int, int, bytes, bytes]] = []
    for token, rank in ranks.items():
        for i in range(1, len(token)):
            left, right = token[:i], token[i:]
            rl, rr = ranks.get(left), ranks.get(right)
            if rl is not None and rr is not None:
                found.append((rank, rl, rr, left, right))
    found.sort(key=lambda m: m[:3])
    return vocab, [(text(m[3]), text(m[4])) for m in found]


def build_tokenizer(kind: str, ranks: dict[bytes, int]) -> Tokenizer:
    """The ``tokenizers`` Tokenizer for ``kind`` from its tiktoken ranks."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
    )

    vocab, merges = ranks_to_bpe(ranks)
    bpe = models.BPE(vocab=vocab, merges=merges, fuse_unk=False)
    tok = Tokenizer(bpe)
    tok.decoder = decoders.ByteLevel()
    if kind == "llama3":
        if hasattr(tok.model, "ignore_merges"):  # a whole word in the vocab is one token
            tok.model.ignore_merges = True
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
        specials = llama3_special_tokens()
        bos = specials[0]
        tok.post_processor = processors.Sequence(
            [
                processors.ByteLevel(trim_offsets=False),
                processors.TemplateProcessing(
                    single=f"{bos} $A",
                    pair=f"{bos} $A {bos}:1 $B:1",
                    special_tokens=[(bos, len(ranks))],
                ),
            ]
        )
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        specials = [GPT2_EOT]
    tok.add_special_tokens([AddedToken(s, normalized=False, special=True) for s in specials])
    for offset, s in enumerate(specials):
        if tok.token_to_id(s) != len(ranks) + offset:
            raise ModelError(f"{kind}: special token {s} did not get id {len(ranks) + offset}")
    return tok


# transformers' PreTrainedTokenizerBase.clean_up_tokenization, in its order: what
# `decode(..., clean_up_tokenization_spaces=True)` did to BPE output before transformers 5
# (which refuses it for BPE tokenizers). The reference accuracy scripts ran 4.x releases.
CLEAN_UP_REPLACEMENTS = (
    (" .", "."),
    (" ?", "?"),
    (" !", "!"),
    (" ,", ","),
    (" ' ", "'"),
    (" n't", "n't"),
    (" 'm", "'m"),
    (" 's", "'s"),
    (" 've", "'ve"),
    (" 're", "'re"),
)


def clean_up_tokenization(text: str) -> str:
    """Decoded text as transformers 4.x's clean-up of tokenization spaces leaves it."""
    for old, new in CLEAN_UP_REPLACEMENTS:
        text = text.replace(old, new)
    return text


def tokenizer_config(kind: str) -> dict[str, Any]:
    """tokenizer_config.json: the settings of the HF tokenizers these equal. The written config
    does not clean up tokenization spaces (transformers 5 refuses to for BPE, and an exact round
    trip needs none); a benchmark whose reference decoded with the clean-up applies
    :func:`clean_up_tokenization` to the decoded text itself."""
    common = {"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False}
    if kind == "llama3":
        return common | {
            "bos_token": "<|begin_of_text|>",
            "eos_token": "<|eot_id|>",
            "model_max_length": 131072,
            "model_input_names": ["input_ids", "attention_mask"],
        }
    return common | {
        "bos_token": GPT2_EOT,
        "eos_token": GPT2_EOT,
        "unk_token": GPT2_EOT,
        "model_max_length": 2048,
        "add_prefix_space": False,
    }


def convert_to_dir(kind: str, ranks_file: Path, target: Path) -> Path:
    """Convert a tiktoken ranks file into ``target``/tokenizer.json + tokenizer_config.json
    (each written atomically: a concurrent reader sees none or the whole file)."""
    ranks = read_tiktoken_ranks(ranks_file, _asset(kind).base_ranks)
    tok = build_tokenizer(kind, ranks)
    atomic_write_text(
        target / "tokenizer_config.json", json.dumps(tokenizer_config(kind), indent=2) + "\n"
    )
    atomic_write_text(target / "tokenizer.json", tok.to_str())
    return target
