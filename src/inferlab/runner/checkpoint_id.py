"""Is the checkpoint a run loads the official one? Its checksum against the sources table.

A state dict with the right shapes loads whatever it holds; only its checksum says whether it
is the file MLPerf's reference accuracy was measured with. :func:`identify_checkpoint`
compares the file's md5/sha256 with every official file of the variant (the benchmark's
sources table, ``Source.variant``). Digests are remembered per (path, size, mtime) in the cache
directory, so a 1.3 GB checkpoint is hashed once, not on every run.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from inferlab.core.errors import ConfigError
from inferlab.core.files import atomic_write_json
from inferlab.data.hashing import hash_file
from inferlab.data.sources import Source, sources_for
from inferlab.results.models import Ready

log = logging.getLogger(__name__)

DIGESTS_FILE = "checkpoint-digests.json"


def official_files(benchmark: str, variant: str) -> list[Source]:
    """The sources table's files for ``variant`` that carry a full checksum."""
    try:
        table = sources_for(benchmark)
    except ConfigError:  # a plugin benchmark without a sources table
        return []
    return [s for s in table.of_kind("model") if s.variant == variant and (s.md5 or s.sha256)]


def _digests(path: Path, cache_dir: Path | None) -> dict[str, str]:
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    store = (cache_dir / DIGESTS_FILE) if cache_dir is not None else None
    known: dict[str, Any] = {}
    if store is not None and store.is_file():
        try:
            known = json.loads(store.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            known = {}
    hit = known.get(key)
    if isinstance(hit, dict) and {"md5", "sha256"} <= set(hit):
        return {"md5": str(hit["md5"]), "sha256": str(hit["sha256"])}
    log.info("checking %s against the official checksums (%.0f MB)", path, st.st_size / 1e6)
    digests = hash_file(path, ("md5", "sha256"), 1 << 22)
    if store is not None:
        try:
            atomic_write_json(store, {**known, key: digests})
        except OSError as exc:  # a cache: never a reason to stop
            log.debug("checkpoint digests not cached: %s", exc)
    return digests


def identify_checkpoint(
    benchmark: str, variant: str, model_path: Path | None, *, cache_dir: Path | None
) -> dict[str, Any] | None:
    """``{"official": True|False|None, "file", "md5", "sha256", "matched", "official_files",
    "note"}`` for a run that loads ``model_path``; None when it loads none (random weights).

    ``official`` is None when the sources table lists no checksum for the variant or the
    checkpoint is a folder: nothing to compare with, said in ``note``."""
    if model_path is None:
        return None
    wanted = official_files(benchmark, variant)
    listed = [
        {"id": s.id, "md5": s.md5, "sha256": s.sha256} for s in wanted
    ]  # what the file was compared with, in result.json
    if not wanted or model_path.is_dir():
        why = (
            "a folder" if model_path.is_dir() else f"no official checksum for the {variant} variant"
        )
        return {
            "official": None,
            "file": str(model_path),
            "official_files": listed,
            "note": f"not compared with the official checkpoint: {why}",
        }
    digests = _digests(model_path, cache_dir)
    matched = next(
        (
            s
            for s in wanted
            if (s.md5 and s.md5 == digests["md5"]) or (s.sha256 and s.sha256 == digests["sha256"])
        ),
        None,
    )
    names = " or ".join(f"{s.id} (md5 {s.md5})" if s.md5 else s.id for s in wanted)
    note = (
        f"the official checkpoint ({matched.id}, checksum matches)"
        if matched
        else f"not the official checkpoint: md5 {digests['md5']} is not that of {names}; "
        "closed division needs the official weights, and the reference accuracy expected for "
        "them does not apply"
    )
    return {
        "official": matched is not None,
        "file": str(model_path),
        **digests,
        "matched": matched.id if matched else None,
        "official_files": listed,
        "note": note,
    }


def with_check(ready: Ready | None, check: dict[str, Any] | None) -> dict[str, Any] | None:
    """The worker's model facts with the checkpoint check added (``checkpoint_check``)."""
    model = ready.model if ready is not None else None
    if model is None or check is None or model.get("random_weights"):
        return model
    return {**model, "checkpoint_check": check}
