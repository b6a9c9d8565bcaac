"""The CNN/DailyMail QSL of gptj-99/99.9: the reference's ``cnn_eval.json``, or generated articles.

``cnn_eval.json`` (written by the reference's ``download_cnndm.py``: 13,368 records of the
``cnn_dailymail`` 3.0.0 validation split) is a JSON list of ``{"instruction", "input",
"output"}``: the instruction "Summarize the following news article:", the article and its
reference summary (the highlights). As the reference's ``dataset.py`` does, each prompt is the
Alpaca template filled with the record (``str.format_map``), tokenized with GPT-J's tokenizer
(GPT-2's BPE, no BOS) and truncated to its first 1,919 tokens (``truncation=True,
max_length=1919``: the tokenizer's default right side, so a long article loses its end and the
``### Response:`` line with it). The references are the records' ``output``.

Without the file, a generated set: made-up articles and summaries (seeded) in the same record
format, through the same template, tokenizer and truncation, labelled SYNTHETIC everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from inferlab.benchmarks.gptj.spec import (
    DATASET_FILE,
    INSTRUCTION,
    MAX_PROMPT_TOKENS,
    PROMPT_TEMPLATE,
)
from inferlab.core.dataset import ResidentPrompts
from inferlab.core.errors import DataError

FIELDS = ("instruction", "input", "output")
GENERATOR_VERSION = 1
_CHUNK = 512  # prompts tokenized per call
_SYLLABLES = tuple(c + v for c in "bdfgklmnprstvz" for v in "aeiou")
_HOW_TO_GET = (
    "make it with the reference's language/gpt-j/download_cnndm.py (`inferlab prepare gptj-99 "
    "--dry-run` lists the steps; docs/gptj.md)"
)

# Texts in, token ids out (one list per text), as the tokenizer's batch call gives them.
Encode = Callable[[list[str]], list[list[int]]]


def prompt_text(record: dict[str, Any]) -> str:
    """The reference's prompt for one record: the Alpaca template filled with it."""
    return PROMPT_TEMPLATE.format_map(record)


class CnnDmDataset(ResidentPrompts):
    """Prompts (the Alpaca prompt tokenized and truncated as the reference) and summaries."""

    def __init__(
        self,
        records: list[dict[str, Any]],
        encode: Encode,
        *,
        dataset_id: str,
        source: dict[str, Any],
        synthetic: bool,
        full_count: int,
        count: int | None = None,
    ) -> None:
        super().__init__(
            records,
            dataset_id=dataset_id,
            source=source,
            synthetic=synthetic,
            full_count=full_count,
            count=count,
            empty_fix=f"use the whole {DATASET_FILE}",
        )
        # the reference: tokenizer(prompt, truncation=True, max_length=1919), right side; in
        # chunks, so that only a chunk's ids are ever Python lists
        prompts: list[np.ndarray] = []
        self.truncated = 0
        for start in range(0, self.total_count, _CHUNK):
            chunk = self.records[start : start + _CHUNK]
            for ids in encode([prompt_text(r) for r in chunk]):
                self.truncated += len(ids) > MAX_PROMPT_TOKENS
                prompts.append(np.asarray(ids[:MAX_PROMPT_TOKENS], dtype=np.int32))
        self.set_prompts(prompts)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "prompts_truncated": self.truncated,
            "max_prompt_tokens": MAX_PROMPT_TOKENS,
        }


def find_file(path: Path) -> Path:
    """``cnn_eval.json``: ``path`` itself, or the file inside the directory ``path``."""
    if path.is_file():
        return path
    candidate = path / DATASET_FILE
    if not candidate.is_file():
        raise DataError(
            f"{path} holds no {DATASET_FILE} (CNN/DailyMail's validation split as the GPT-J "
            "reference writes it)",
            f"put {DATASET_FILE} there or pass --dataset-path to the file; {_HOW_TO_GET}",
        )
    return candidate


def read_records(file: Path) -> list[dict[str, Any]]:
    """The records of ``cnn_eval.json``, checked; :class:`DataError` with the fix otherwise."""
    try:
        records = json.loads(file.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{file} is not UTF-8 text (byte offset {exc.start})",
            f"use {DATASET_FILE} as download_cnndm.py writes it",
        ) from None
    except OSError as exc:
        raise DataError(
            f"cannot read {file} ({exc})", "check the path and its permissions"
        ) from None
    except ValueError as exc:
        raise DataError(
            f"{file} is not readable JSON ({exc}); a partial copy?",
            f"write it again: {_HOW_TO_GET}",
        ) from None
    if not isinstance(records, list):
        raise DataError(
            f"{file} holds a JSON {type(records).__name__}, not the list of records of "
            f"{DATASET_FILE}",
            f"use the reference's {DATASET_FILE}: {_HOW_TO_GET}",
        )
    for i, r in enumerate(records):
        if not isinstance(r, dict) or not all(isinstance(r.get(k), str) for k in FIELDS):
            hint = ""
            if isinstance(r, dict) and "tok_input" in r:
                hint = " (this looks like llama3.1-8b's processed file, another dataset)"
            raise DataError(
                f"{file}: record {i} is not an {{instruction, input, output}} record of text"
                + hint,
                f"use the GPT-J reference's {DATASET_FILE}: {_HOW_TO_GET}",
            )
    return records


def load_real(
    path: Path, encode: Encode, *, full_count: int, count: int | None, tokenizer: str
) -> CnnDmDataset:
    file = find_file(path)
    records = read_records(file)
    source = {"path": str(file), "records_in_file": len(records), "tokenizer": tokenizer}
    return CnnDmDataset(
        records,
        encode,
        dataset_id="cnn-dailymail-eval",
        source=source,
        synthetic=False,
        full_count=full_count,
        count=count,
    )


def _sentences(rng: np.random.Generator, n: int) -> str:
    parts = []
    for _ in range(n):
        words = []
        for _ in range(int(rng.integers(5, 15))):
            k = int(rng.integers(1, 4))
            syl = rng.integers(0, len(_SYLLABLES), size=k)
            words.append("".join(_SYLLABLES[int(i)] for i in syl))
        parts.append(" ".join(words).capitalize() + ".")
    return " ".join(parts)


def generate_records(count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` made-up articles (3-10 sentences) with summaries (1-3 sentences), seeded, as
    ``cnn_eval.json`` records. Shorter than CNN/DailyMail's (~800 tokens): the tiny model's
    beams cost per token held."""
    rng = np.random.default_rng([seed, 0x6A7])
    return [
        {
            "instruction": INSTRUCTION,
            "input": _sentences(rng, int(rng.integers(3, 11))),
            "output": _sentences(rng, int(rng.integers(1, 4))),
        }
        for _ in range(count)
    ]


def load_synthetic(count: int, seed: int, encode: Encode, tokenizer: str) -> CnnDmDataset:
    source = {
        "path": None,
        "generator": f"synthetic-cnndm-gptj/v{GENERATOR_VERSION}",
        "seed": seed,
        "tokenizer": tokenizer,
    }
    return CnnDmDataset(
        generate_records(count, seed),
        encode,
        dataset_id="synthetic-cnn-dailymail",
        source=source,
        synthetic=True,
        full_count=count,
    )
