"""On-disk cache of the SQuAD v1.1 BERT features built by
:mod:`inferlab.benchmarks.bert.preprocess`.

The features are cached in their flat-array form (``_build_arrays`` in squad.py makes it,
:func:`assemble_features` turns it into :class:`SquadFeatures`, for a fresh build and a cache hit
alike). One ``.npz`` per key (no pickle), at ``<cache_dir>/squad/features-<key[:32]>.npz``
(:func:`cache_path`). The key (:func:`cache_key`) is a sha256 over the content of the JSON and
vocabulary files, the three feature constants, :data:`TRANSFORM_VERSION` and the tokenizers
version. The file holds the arrays plus a ``meta`` array (UTF-8 JSON: key, transform version,
shapes, sha256 of each array). :func:`write_cache` writes a temporary file and moves it into place
with ``os.replace``; a cache that cannot be written only logs a warning. :func:`read_cache`
reports a damaged entry (unreadable, another key, wrong arrays, dtypes, shapes or checksums,
inconsistent sizes) and returns None, so the caller rebuilds it.

squad.py imports this module (and re-exports :func:`cache_key`, :func:`cache_path` and
:data:`TRANSFORM_VERSION`); this module does not import squad.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from inferlab.benchmarks.bert.features import (
    DOC_STRIDE,
    MAX_QUERY_LENGTH,
    MAX_SEQ_LENGTH,
    SquadFeature,
    SquadFeatures,
)
from inferlab.core.files import atomic_write_bytes

# The cache's messages keep the logger they had when this code lived in squad.py.
log = logging.getLogger("inferlab.benchmarks.bert.preprocess")

#: Bump when the features or the cache layout change; part of the cache key.
TRANSFORM_VERSION = "squad_v1.1_bert_features/1"

# The flat arrays of the features (what _build_arrays returns and the cache stores).
_ARRAY_DTYPES = {
    "input_ids": np.int32,
    "lengths": np.int32,
    "doc_offset": np.int32,
    "unique_id": np.int64,
    "example_index": np.int32,
    "doc_span_index": np.int32,
    "orig_index": np.int32,
    "max_context": np.bool_,
}


def assemble_features(arrays: dict[str, np.ndarray], id_to_token: list[str]) -> SquadFeatures:
    """SquadFeatures from the flat arrays (the same code for a fresh build and a cache hit)."""
    input_ids = arrays["input_ids"]
    lengths = arrays["lengths"]
    doc_offset = arrays["doc_offset"]
    n, width = input_ids.shape
    positions = np.arange(width, dtype=np.int32)
    input_mask = (positions < lengths[:, None]).astype(np.int32)
    segment_ids = ((positions >= doc_offset[:, None]) & (input_mask == 1)).astype(np.int32)

    orig = arrays["orig_index"].tolist()
    flags = arrays["max_context"].tolist()
    span_lengths = (lengths - doc_offset - 1).tolist()
    features = []
    cursor = 0  # a feature's entries in the flat map arrays start here
    # length >= 4 ([CLS] [SEP] piece [SEP]), so itemgetter(*ids) returns a tuple
    for r, (uid, ex_index, span_index, offset, length, span_len) in enumerate(
        zip(
            arrays["unique_id"].tolist(),
            arrays["example_index"].tolist(),
            arrays["doc_span_index"].tolist(),
            doc_offset.tolist(),
            lengths.tolist(),
            span_lengths,
            strict=True,
        )
    ):
        keys = range(offset, offset + span_len)
        features.append(
            SquadFeature(
                unique_id=uid,
                example_index=ex_index,
                doc_span_index=span_index,
                tokens=itemgetter(*input_ids[r, :length].tolist())(id_to_token),
                token_to_orig_map=dict(zip(keys, orig[cursor : cursor + span_len], strict=True)),
                token_is_max_context=dict(
                    zip(keys, flags[cursor : cursor + span_len], strict=True)
                ),
            )
        )
        cursor += span_len
    return SquadFeatures(
        features=tuple(features),
        input_ids=input_ids,
        input_mask=input_mask,
        segment_ids=segment_ids,
        lengths=lengths.astype(np.int32),
    )


def cache_key(dataset_bytes: bytes, vocab_sha256: str, tokenizers_version: str) -> str:
    """sha256 naming everything the features depend on."""
    parts = [
        TRANSFORM_VERSION,
        f"tokenizers={tokenizers_version}",
        f"max_seq_length={MAX_SEQ_LENGTH}",
        f"doc_stride={DOC_STRIDE}",
        f"max_query_length={MAX_QUERY_LENGTH}",
        "dataset=" + hashlib.sha256(dataset_bytes).hexdigest(),
        "vocab=" + vocab_sha256,
    ]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def cache_path(cache_dir: Path, key: str) -> Path:
    return Path(cache_dir) / "squad" / f"features-{key[:32]}.npz"


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def write_cache(path: Path, key: str, arrays: dict[str, np.ndarray]) -> None:
    meta = {
        "key": key,
        "transform": TRANSFORM_VERSION,
        "shapes": {name: list(a.shape) for name, a in arrays.items()},
        "sha256": {name: _digest(a) for name, a in arrays.items()},
    }
    payload: dict[str, Any] = {
        "meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
        **arrays,
    }
    buf = io.BytesIO()
    np.savez_compressed(buf, **payload)
    try:
        atomic_write_bytes(path, buf.getvalue(), fsync=False)  # a cache: rebuilt if lost
    except OSError as err:
        log.warning("cannot write the SQuAD feature cache %s: %s; continuing without it", path, err)
        return
    log.info("SQuAD features cached in %s", path)


def read_cache(path: Path, key: str, n_examples: int) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when absent or damaged in any way (then logged)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
        problem = _cache_problem(arrays, meta, key, n_examples)
    except Exception as err:  # zip, npy, JSON or unicode errors: all mean "damaged"
        problem = f"{type(err).__name__}: {err}"
    if problem:
        log.warning("SQuAD feature cache %s is damaged (%s); rebuilding it", path, problem)
        return None
    return arrays


def _cache_problem(
    arrays: dict[str, np.ndarray], meta: dict[str, Any], key: str, n_examples: int
) -> str | None:
    if meta.get("key") != key:
        return "written for another key"
    if set(arrays) != set(_ARRAY_DTYPES):
        return f"arrays {sorted(arrays)}"
    for name, dtype in _ARRAY_DTYPES.items():
        a = arrays[name]
        if a.dtype != dtype or list(a.shape) != meta["shapes"][name]:
            return f"{name} has dtype {a.dtype} and shape {a.shape}"
        if _digest(a) != meta["sha256"][name]:
            return f"{name} checksum mismatch"
    n = len(arrays["input_ids"])
    if any(len(arrays[k]) != n for k in ("lengths", "doc_offset", "unique_id", "example_index")):
        return "row counts differ"
    if n and int(arrays["example_index"].max()) >= n_examples:
        return "example index out of range"
    span_total = int((arrays["lengths"] - arrays["doc_offset"] - 1).sum())
    if span_total != len(arrays["orig_index"]) or span_total != len(arrays["max_context"]):
        return "map sizes differ"
    return None
