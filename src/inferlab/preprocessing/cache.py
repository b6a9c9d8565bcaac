"""On-disk cache of preprocessed tensors, keyed by the input's content hash and the transform key.

Layout::

    <cache_dir>/<sha256(transform_key)[:16]>/key.json         what the transform key is
    <cache_dir>/<sha256(transform_key)[:16]>/<hh>/<sha256(input)>.npy

``hh`` is the first two hex digits of the input's sha256. Each entry is a regular ``.npy`` file
(``np.load`` reads it) followed by a 36-byte trailer: ``b"ILCK"`` + sha256 of the ``.npy`` bytes.
The trailer lets a truncated or bit-flipped entry be detected; such an entry is recomputed and
overwritten, never returned. A different transform key (new transform version, decoder, or library
version) maps to a different folder, so stale tensors are never returned.

Writes go to a uniquely named temporary file in the entry's folder and are moved into place with
``os.replace``, so two processes writing the same entry both succeed and a reader sees either the
old file, no file, or a complete new one. A cache that cannot be written (read-only disk, full
disk) logs one warning and keeps computing. One ``Cache`` may be used from several threads at
once (a dataset's parallel load): entries are independent files and the counters are locked.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import inferlab
from inferlab.core.files import atomic_write_bytes

log = logging.getLogger(__name__)

_TRAILER_MAGIC = b"ILCK"
_TRAILER_LEN = len(_TRAILER_MAGIC) + 32
FORMAT = "npy+sha256-trailer/v1"


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    corrupt: int = 0
    write_errors: int = 0


def key_folder_name(transform_key: str) -> str:
    """Folder name for a transform key: the first 16 hex digits of its sha256."""
    return hashlib.sha256(transform_key.encode("utf-8")).hexdigest()[:16]


def encode_entry(array: np.ndarray) -> bytes:
    """Serialise an array as ``.npy`` bytes plus the integrity trailer."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(array), allow_pickle=False)
    payload = buf.getvalue()
    return payload + _TRAILER_MAGIC + hashlib.sha256(payload).digest()


def decode_entry(raw: bytes) -> np.ndarray | None:
    """Parse bytes written by :func:`encode_entry`; None when they are damaged in any way."""
    if len(raw) <= _TRAILER_LEN or raw[-_TRAILER_LEN:-32] != _TRAILER_MAGIC:
        return None
    payload = raw[:-_TRAILER_LEN]
    if hashlib.sha256(payload).digest() != raw[-32:]:
        return None
    try:
        return np.lib.format.read_array(io.BytesIO(payload), allow_pickle=False)
    except (ValueError, OSError, EOFError):
        return None


class Cache:
    """Content-addressed cache for one transform key.

    ``get_or_compute(data, compute)`` returns ``compute(data)``, from disk when an intact entry for
    the same input bytes and transform key exists. Arrays returned from disk are read-only.
    """

    def __init__(self, cache_dir: Path, transform_key: str, *, enabled: bool = True) -> None:
        self.cache_dir = Path(cache_dir)
        self.transform_key = transform_key
        self.enabled = enabled
        self.directory = self.cache_dir / key_folder_name(transform_key)
        self.stats = CacheStats()
        self._lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._key_checked = False
        self._warned = False

    def __repr__(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        return f"Cache({str(self.directory)!r}, {state})"

    def with_key(self, transform_key: str) -> Cache:
        """The same cache root and switch for another transform key."""
        return Cache(self.cache_dir, transform_key, enabled=self.enabled)

    def entry_path(self, data: bytes) -> Path:
        digest = hashlib.sha256(data).hexdigest()
        return self.directory / digest[:2] / f"{digest}.npy"

    def get_or_compute(self, data: bytes, compute: Callable[[bytes], np.ndarray]) -> np.ndarray:
        if not self.enabled or not self._check_key():
            return compute(data)
        path = self.entry_path(data)
        cached = self._read(path)
        if cached is not None:
            self._count("hits")
            return cached
        self._count("misses")
        array = np.asarray(compute(data))
        self._write(path, array)
        return array

    # ------------------------------------------------------------------ internals

    def _count(self, field: str) -> None:
        with self._stats_lock:
            setattr(self.stats, field, getattr(self.stats, field) + 1)

    def _read(self, path: Path) -> np.ndarray | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            self._warn(f"cannot read cache entry {path}: {err}")
            return None
        array = decode_entry(raw)
        if array is None:
            self._count("corrupt")
            log.warning("cache entry %s is corrupt; recomputing it", path)
        return array

    def _write(self, path: Path, array: np.ndarray) -> None:
        try:
            blob = encode_entry(array)
        except ValueError as err:  # e.g. object arrays: not cacheable, still usable
            self._warn(f"cannot cache a {array.dtype} array: {err}")
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(path, blob)
        except OSError as err:
            self._count("write_errors")
            self._warn(f"cannot write preprocessing cache under {self.directory}: {err}")

    def _check_key(self) -> bool:
        """Write key.json on first use, or check it names our key (guards a prefix collision)."""
        if self._key_checked:
            return self.enabled
        with self._lock:
            if self._key_checked:
                return self.enabled
            self._key_checked = True
            key_file = self.directory / "key.json"
            try:
                existing = json.loads(key_file.read_text(encoding="utf-8"))
            except FileNotFoundError:
                existing = None
            except (OSError, ValueError):
                existing = {}
            if existing is not None and existing.get("transform_key") == self.transform_key:
                return True
            if existing is not None and "transform_key" in existing:
                log.warning(
                    "preprocessing cache folder %s belongs to another transform key (%s); "
                    "caching disabled for this run",
                    self.directory,
                    existing.get("transform_key"),
                )
                self.enabled = False
                return False
            doc = {
                "transform_key": self.transform_key,
                "transform_key_sha256": hashlib.sha256(self.transform_key.encode()).hexdigest(),
                "format": FORMAT,
                "written_by": f"inferlab {inferlab.__version__}",
            }
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                _atomic_write(key_file, (json.dumps(doc, indent=2) + "\n").encode("utf-8"))
            except OSError as err:
                self._warn(f"cannot write preprocessing cache under {self.directory}: {err}")
            return True

    def _warn(self, message: str) -> None:
        with self._stats_lock:
            first, self._warned = not self._warned, True
        if first:
            log.warning("%s; continuing without caching these entries", message)
        else:
            log.debug(message)


def _atomic_write(path: Path, blob: bytes) -> None:
    atomic_write_bytes(path, blob, fsync=False)  # a cache entry: recomputed if lost
