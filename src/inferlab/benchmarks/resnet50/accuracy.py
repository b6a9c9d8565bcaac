"""ImageNet top-1 accuracy from a LoadGen accuracy log, computed like the official
``vision/classification_and_detection/tools/accuracy-imagenet.py``.

Rules reproduced: entries are visited in file order and only the FIRST entry of each ``qsl_idx``
counts; the payload is decoded with ``bytes.fromhex`` + ``np.frombuffer(dtype)`` (float32 by
default, or int32/int64) and its element 0, passed through ``int()`` (truncation toward zero), is
the predicted class; the label is column 2 of line ``qsl_idx`` of ``val_map.txt``; accuracy is
``100.0 * good / len(seen)`` printed as ``accuracy={:.3f}%, good={}, total={}``.

Where the official script would crash (empty log, empty payload, NaN prediction, malformed
``val_map`` line, index past the labels) we raise :class:`DataError` instead.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inferlab.core.errors import ConfigError, DataError
from inferlab.loadgen.accuracy_log import decode_hex, iter_entries

__all__ = ["DTYPES", "Top1Result", "read_val_map", "top1_from_log"]

log = logging.getLogger(__name__)

#: The ``--dtype`` choices of the official script.
DTYPES: dict[str, type[np.generic]] = {"float32": np.float32, "int32": np.int32, "int64": np.int64}


@dataclass(frozen=True)
class Top1Result:
    """``good`` correct out of ``total`` distinct samples; ``accuracy`` in percent."""

    good: int
    total: int
    accuracy: float
    duplicates: int = 0

    def line(self) -> str:
        """The official script's output line, e.g. ``accuracy=76.456%, good=38228, total=50000``."""
        return f"accuracy={self.accuracy:.3f}%, good={self.good}, total={self.total}"


def read_val_map(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray]:
    """Read ``val_map.txt`` (``<file> <label>`` per line; line i describes qsl_idx i).

    Returns the file names and an int64 label array. Trailing blank lines are ignored; a blank or
    malformed line before the end raises :class:`DataError` with its line number."""
    p = Path(path)
    if not p.is_file():
        raise DataError(
            f"ImageNet val map {p} does not exist",
            "point at val_map.txt of the ImageNet 2012 validation set",
        )
    names: list[str] = []
    labels: list[int] = []
    blank_at: int | None = None
    with p.open("r", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            cols = line.strip().split()
            if not cols:
                blank_at = blank_at or number
                continue
            if blank_at is not None:
                raise DataError(
                    f"{p}:{blank_at}: blank line inside the val map (would shift every index)",
                    "remove the blank line",
                )
            if len(cols) < 2:
                raise DataError(
                    f"{p}:{number}: expected '<file> <label>', got {line.strip()!r}",
                    "fix or regenerate val_map.txt",
                )
            try:
                label = int(cols[1])
            except ValueError:
                raise DataError(
                    f"{p}:{number}: label {cols[1]!r} is not an integer",
                    "fix or regenerate val_map.txt",
                ) from None
            names.append(cols[0])
            labels.append(label)
    return names, np.asarray(labels, dtype=np.int64)


def _dtype(dtype: str) -> type[np.generic]:
    try:
        return DTYPES[str(dtype)]
    except KeyError:
        raise ConfigError(
            f"unsupported top-1 payload dtype {dtype!r}",
            f"use one of {', '.join(DTYPES)} (what the SUT writes into the response)",
        ) from None


def top1_from_log(
    log_path: str | os.PathLike[str], labels: np.ndarray, dtype: str = "float32"
) -> Top1Result:
    """Top-1 accuracy of ``mlperf_log_accuracy.json`` against ``labels`` (index = qsl_idx).

    Streams the log (constant memory apart from the set of seen indices)."""
    np_dtype = _dtype(dtype)
    label_list = np.asarray(labels).astype(np.int64).tolist()
    seen: set[int] = set()
    good = 0
    entries = 0
    for entry in iter_entries(log_path):
        entries += 1
        idx = entry.qsl_idx
        if idx in seen:
            continue
        seen.add(idx)
        if not 0 <= idx < len(label_list):
            raise DataError(
                f"{log_path}: qsl_idx {idx} is outside the {len(label_list)} labels",
                "use the val map of the dataset the run used (same order and count)",
            )
        where = f"entry {entries - 1} (qsl_idx {idx})"
        data = decode_hex(entry.data, np_dtype, path=log_path, where=where)
        if data.size == 0:
            raise DataError(f"{log_path}: {where} has an empty payload", "the SUT sent no class")
        first = data[0].item()
        if isinstance(first, float) and not math.isfinite(first):
            raise DataError(f"{log_path}: {where} predicts {first}", "the SUT sent no class")
        if int(first) == label_list[idx]:
            good += 1
    if not seen:
        raise DataError(
            f"accuracy log {log_path} has no entries",
            "run LoadGen in AccuracyOnly mode so every sample is logged",
        )
    result = Top1Result(
        good=good,
        total=len(seen),
        accuracy=100.0 * good / len(seen),
        duplicates=entries - len(seen),
    )
    log.info("%s (%d duplicates ignored)", result.line(), result.duplicates)
    return result
