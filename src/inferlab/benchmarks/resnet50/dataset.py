"""ImageNet 2012 validation set in the MLPerf layout (a folder of JPEGs plus ``val_map.txt``).

``val_map.txt`` has one ``<file name> <label>`` line per image, label 0..999; QSL index i is line i
(the official ``accuracy-imagenet.py`` reads the same file the same way). Construction validates
the layout quickly (no decoding); ``load`` decodes and crops through the on-disk cache into uint8
224x224x3 arrays; ``get_batch`` gathers resident crops and normalises them for the model.

``load`` (LoadGen's load_samples_to_ram) decodes and crops the samples it is given in a pool of
``workers`` threads (default :func:`default_workers`: the CPUs this process may use, at most
:data:`MAX_WORKERS`), as the reference harness does with its ``--threads``: Pillow and OpenCV
release the GIL while decoding and resizing. The crops are the same arrays, in the same order,
as one thread gives; the first failing sample in index order is the error raised (naming the
file), and the samples not yet started are cancelled.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from inferlab.benchmarks.resnet50.preprocess import (
    CROP_SIZE,
    PREPARE_FIX,
    ImageTransform,
    get_transform,
    resolve_decoder,
)
from inferlab.config.text import read_utf8
from inferlab.core.errors import ConfigError, DataError
from inferlab.preprocessing.cache import Cache

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

DATASET_ID = "imagenet2012-val"
VAL_MAP = "val_map.txt"
NUM_CLASSES = 1000
PATH_FIX = "pass --dataset-path DIR or --data-dir ROOT containing imagenet2012-val/"
MAX_WORKERS = 16  # past this, decoding 1,024 crops gains little and costs memory and threads


def default_workers() -> int:
    """Preprocessing threads when none are given: the CPUs this process may run on (its
    affinity mask, so a container's or taskset's limit counts), 1..MAX_WORKERS."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_WORKERS))


def map_in_order(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """``[fn(x) for x in items]`` in up to ``workers`` threads: results in input order; the
    first item (in input order) whose call raised has its exception re-raised, after the
    calls not yet started are cancelled and the running ones have finished."""
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(
        max_workers=min(workers, len(items)), thread_name_prefix="inferlab-preprocess"
    ) as pool:
        futures = [pool.submit(fn, x) for x in items]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def read_val_map(path: Path) -> tuple[list[str], np.ndarray]:
    """Parse a val_map.txt into (file names, int64 labels); DataError names the bad line."""
    if not path.exists():
        raise DataError(
            f"{path.parent} has no {VAL_MAP}",
            fix=f"run `inferlab prepare resnet50 --from <ILSVRC2012_img_val dir or tar>`, or "
            f"{PATH_FIX}",
        )
    text = read_utf8(path, what="ImageNet label list", error=DataError, missing_fix=PATH_FIX)
    names: list[str] = []
    labels: list[int] = []
    for lineno, line in enumerate(text.rstrip().splitlines(), start=1):
        fields = line.split()
        if len(fields) != 2:
            raise DataError(
                f"{path} line {lineno} is malformed: {line.strip()[:80]!r}",
                fix="each line must be '<file name> <label>'; regenerate it with "
                "`inferlab prepare resnet50 --from ...`",
            )
        try:
            label = int(fields[1])
        except ValueError:
            label = -1
        if not 0 <= label < NUM_CLASSES:
            raise DataError(
                f"{path} line {lineno} has label {fields[1]!r}, outside 0..{NUM_CLASSES - 1}",
                fix="use 0-based ImageNet labels; regenerate it with "
                "`inferlab prepare resnet50 --from ...`",
            )
        names.append(fields[0])
        labels.append(label)
    if not names:
        raise DataError(
            f"{path} is empty", fix="regenerate it with `inferlab prepare resnet50 --from ...`"
        )
    return names, np.asarray(labels, dtype=np.int64)


class ResidentCrops:
    """Shared QSL mechanics: resident uint8 crops by index, gathered and normalised on demand."""

    dataset_id: str
    total_count: int
    synthetic: bool
    transform: ImageTransform

    def __init__(
        self, transform: ImageTransform, total_count: int, workers: int | None = 1
    ) -> None:
        self.transform = transform
        self.total_count = total_count
        self.workers = default_workers() if workers is None else max(1, int(workers))
        self._resident: dict[int, np.ndarray] = {}

    def _make_crop(self, index: int) -> np.ndarray:
        raise NotImplementedError

    @property
    def resident_count(self) -> int:
        return len(self._resident)

    def _check_indices(self, indices: Iterable[int]) -> list[int]:
        out = [int(i) for i in indices]
        bad = [i for i in out if not 0 <= i < self.total_count]
        if bad:
            raise IndexError(
                f"sample index {bad[0]} outside 0..{self.total_count - 1} ({len(bad)} bad)"
            )
        return out

    def load(self, indices: Sequence[int]) -> None:
        todo = list(
            dict.fromkeys(i for i in self._check_indices(indices) if i not in self._resident)
        )
        if not todo:
            return
        crops = map_in_order(self._make_crop, todo, self.workers)
        self._resident.update(zip(todo, crops, strict=True))
        log.debug(
            "%s: loaded %d samples in %d threads, %d resident",
            self.dataset_id,
            len(todo),
            min(self.workers, len(todo)),
            len(self._resident),
        )

    def unload(self, indices: Sequence[int]) -> None:
        for i in indices:
            self._resident.pop(int(i), None)

    def raw_batch(self, indices: np.ndarray) -> np.ndarray:
        """The resident uint8 NHWC crops of ``indices`` (before normalisation): what a
        device-resident sample store uploads once and normalises on the device."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        batch = np.empty((idx.size, CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)
        for row, i in enumerate(idx.tolist()):
            crop = self._resident.get(i)
            if crop is None:
                raise DataError(
                    f"{self.dataset_id} sample {i} was requested before it was loaded",
                    fix="call load() with the index first (LoadGen loads samples before issuing)",
                )
            batch[row] = crop
        return batch

    @property
    def raw_normalization(self) -> tuple[float, tuple[float, ...], tuple[float, ...]]:
        """How ``raw_batch`` becomes ``get_batch``: float32 ((x / divisor) - mean) / std per
        channel, NHWC -> NCHW."""
        return self.transform.norm

    def get_batch(self, indices: np.ndarray) -> np.ndarray:
        return self.transform.normalize(self.raw_batch(indices))


class ImageNetDataset(ResidentCrops):
    """The 50,000-image ImageNet 2012 validation set (or its first ``count`` lines)."""

    dataset_id = DATASET_ID
    synthetic = False

    def __init__(
        self,
        dataset_path: Path,
        *,
        count: int | None = None,
        transform: str = "pytorch",
        decoder: str = "default",
        cache: Cache | None = None,
        workers: int | None = None,
        decoder_owner: str = "",
    ) -> None:
        self.path = Path(dataset_path)
        if not self.path.is_dir():
            what = "is not a directory" if self.path.exists() else "does not exist"
            raise DataError(f"ImageNet validation folder {self.path} {what}", fix=PATH_FIX)
        tf = get_transform(transform)
        # "default": the transform's reference decoder (cv2 for mean_only; a missing OpenCV is
        # an error naming ``decoder_owner``, e.g. the variant whose preprocessing needs it)
        self.decoder_requested = decoder
        self.decoder = resolve_decoder(
            decoder, tf.default_decoder, who=decoder_owner or f"the {tf.name} ImageNet transform"
        )
        self.transform_key = tf.key(self.decoder)
        self.val_map_path = self.path / VAL_MAP
        names, labels = read_val_map(self.val_map_path)
        self.full_count = len(names)
        if count is not None and count < 1:
            raise ConfigError(
                f"sample count must be at least 1, got {count}", fix="pass --count N >= 1"
            )
        if count is not None and count > self.full_count:
            raise DataError(
                f"asked for {count} samples but {self.val_map_path} lists only {self.full_count}",
                fix=f"use --count {self.full_count} or less, or prepare the full dataset",
            )
        total = self.full_count if count is None else count
        super().__init__(tf, total, workers)
        self._names = names[:total]
        self._labels = labels[:total]
        self._check_files_present()
        if cache is not None and cache.transform_key != self.transform_key:
            cache = cache.with_key(self.transform_key)
        self.cache = cache

    def _check_files_present(self) -> None:
        with os.scandir(self.path) as it:
            present = {entry.name for entry in it}

        def exists(name: str) -> bool:
            return name in present if "/" not in name else (self.path / name).is_file()

        missing = [n for n in self._names if not exists(n)]
        if missing:
            raise DataError(
                f"{self.val_map_path} names {missing[0]}, which is not in {self.path} "
                f"({len(missing)} of {len(self._names)} listed files missing)",
                fix="re-copy the missing files, or run "
                "`inferlab prepare resnet50 --from <ILSVRC2012_img_val dir or tar>`",
            )

    def file_path(self, index: int) -> Path:
        return self.path / self._names[index]

    def _make_crop(self, index: int) -> np.ndarray:
        path = self.file_path(index)
        try:
            data = path.read_bytes()
        except OSError as err:
            raise DataError(
                f"cannot read image {path}: {err.strerror or err}", fix=PREPARE_FIX
            ) from err

        def compute(raw: bytes) -> np.ndarray:
            return self.transform.crop_from_bytes(raw, decoder=self.decoder, name=str(path))

        if self.cache is None:
            return compute(data)
        return self.cache.get_or_compute(data, compute)

    def labels(self) -> np.ndarray:
        """Ground-truth labels (0..999) of the first ``total_count`` samples; decodes nothing."""
        return self._labels.copy()

    def describe(self) -> dict[str, Any]:
        return {
            "dataset_id": self.dataset_id,
            "path": str(self.path),
            "val_map": str(self.val_map_path),
            "total_count": self.total_count,
            "full_count": self.full_count,
            "subset": self.total_count < self.full_count,
            "transform": self.transform.name,
            "transform_key": self.transform_key,
            "decoder": self.decoder,
            "decoder_requested": self.decoder_requested,
            "preprocess_threads": self.workers,
            "cache": None
            if self.cache is None or not self.cache.enabled
            else str(self.cache.directory),
            "synthetic": False,
        }
