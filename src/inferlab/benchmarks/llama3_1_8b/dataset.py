"""The CNN/DailyMail QSL of llama3.1-8b: the reference's processed file, or generated articles.

The reference's processed file (``cnn_eval.json``, 13,368 records; the edge benchmark's
``sample_cnn_eval_5000.json``) is a JSON list of records ``{"instruction", "input",
"tok_input", "output"}``: the article, the prompt's token ids (the instruction template around
the article, tokenized with BOS), and the reference summary. The prompts are used as they are
(no re-tokenization), so a run feeds the model exactly the reference's input ids.

Without the file, a generated set: made-up articles and summaries (seeded), wrapped in the same
template and tokenized with the real Llama 3.1 tokenizer, labelled SYNTHETIC everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from inferlab.core.dataset import ResidentPrompts
from inferlab.core.errors import DataError

FULL_FILE = "cnn_eval.json"
EDGE_FILE = "sample_cnn_eval_5000.json"
FIELDS = ("input", "tok_input", "output")
GENERATOR_VERSION = 1
_SYLLABLES = tuple(c + v for c in "bdfgklmnprstvz" for v in "aeiou")


class PromptDataset(ResidentPrompts):
    """Prompts (the processed file's ``tok_input`` ids) and reference summaries."""

    def __init__(
        self,
        records: list[dict[str, Any]],
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
            empty_fix="check the dataset file",
        )
        self.set_prompts([np.asarray(r["tok_input"], dtype=np.int32) for r in self.records])


def find_file(path: Path, edge: bool) -> Path:
    """The processed file: ``path`` itself, or the benchmark's file name inside it."""
    if path.is_file():
        return path
    name = EDGE_FILE if edge else FULL_FILE
    candidate = path / name
    if not candidate.is_file():
        raise DataError(
            f"{path} holds no {name} (the reference's processed CNN/DailyMail file)",
            f"put {name} there (docs/llama3.1-8b.md says how to get it), or pass "
            "--dataset-path to the file",
        )
    return candidate


def load_real(path: Path, *, edge: bool, full_count: int, count: int | None) -> PromptDataset:
    file = find_file(path, edge)
    try:
        records = json.loads(file.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{file} is not UTF-8 text (byte offset {exc.start})",
            "use the reference's processed file as downloaded",
        ) from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{file} is not readable JSON ({exc})", "download it again") from None
    if not isinstance(records, list) or not all(
        isinstance(r, dict) and all(k in r for k in FIELDS) for r in records
    ):
        raise DataError(
            f"{file} is not the processed CNN/DailyMail format (a list of records with "
            f"{', '.join(FIELDS)})",
            "use the reference's processed file (download_cnndm.py's output)",
        )
    source = {"path": str(file), "records_in_file": len(records)}
    return PromptDataset(
        records,
        dataset_id="cnn-dailymail-eval",
        source=source,
        synthetic=False,
        full_count=full_count,
        count=count,
    )


def _words(rng: np.random.Generator, n: int) -> list[str]:
    out: list[str] = []
    for _ in range(n):
        k = int(rng.integers(1, 4))
        out.append("".join(_SYLLABLES[int(i)] for i in rng.integers(0, len(_SYLLABLES), size=k)))
    return out


def _sentences(rng: np.random.Generator, n: int) -> str:
    parts = []
    for _ in range(n):
        words = _words(rng, int(rng.integers(6, 18)))
        parts.append(" ".join(words).capitalize() + ".")
    return " ".join(parts)


def generate_records(
    count: int, seed: int, template: str, encode: Callable[[str], list[int]]
) -> list[dict[str, Any]]:
    """``count`` made-up articles (4-24 sentences) and summaries (1-4 sentences), seeded, in
    the processed-file format; ``encode`` tokenizes a prompt as the reference does (with BOS)."""
    rng = np.random.default_rng([seed, 0xC11D])
    records = []
    for _ in range(count):
        article = _sentences(rng, int(rng.integers(4, 25)))
        summary = _sentences(rng, int(rng.integers(1, 5)))
        prompt = template.format(input=article)
        records.append(
            {
                "instruction": {"llama": template},
                "input": article,
                "tok_input": [int(t) for t in encode(prompt)],
                "output": summary,
            }
        )
    return records


def load_synthetic(
    count: int, seed: int, template: str, encode: Callable[[str], list[int]], tokenizer: str
) -> PromptDataset:
    records = generate_records(count, seed, template, encode)
    source = {
        "path": None,
        "generator": f"synthetic-cnndm/v{GENERATOR_VERSION}",
        "seed": seed,
        "tokenizer": tokenizer,
    }
    return PromptDataset(
        records,
        dataset_id="synthetic-cnn-dailymail",
        source=source,
        synthetic=True,
        full_count=count,
    )
