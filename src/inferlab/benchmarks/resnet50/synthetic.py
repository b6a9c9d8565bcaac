"""Synthetic ImageNet-shaped data: runs every ResNet50 code path without the real dataset.

Image i is generated from (seed, i) alone: a random size (each side 200..600) filled with smooth
random content (low-resolution noise upsampled bilinearly), then resized, centre-cropped and
normalised by the SAME transform code as real images. Labels are seeded random ints 0..999 that
depend only on the seed (never on a model), so accuracy on synthetic data is chance level (~0.1%)
and is reported as synthetic. ``write_val_map`` writes a val_map.txt so the official
``accuracy-imagenet.py`` can score a synthetic run's accuracy log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from inferlab.benchmarks.resnet50.dataset import NUM_CLASSES, ResidentCrops
from inferlab.benchmarks.resnet50.preprocess import get_transform
from inferlab.core.errors import ConfigError

DATASET_ID = "synthetic-imagenet"
GENERATOR_VERSION = 1
MIN_SIDE = 200
MAX_SIDE = 600
_LABEL_STREAM = 0x1ABE1  # keeps the label stream apart from the per-image streams


def synthetic_image(seed: int, index: int) -> Image.Image:
    """The deterministic RGB source image for sample ``index`` (before resize/crop)."""
    rng = np.random.default_rng([seed, index])
    width, height = (int(v) for v in rng.integers(MIN_SIDE, MAX_SIDE + 1, size=2))
    cells = int(rng.integers(3, 24))  # feature size varies from image to image
    low = rng.integers(0, 256, size=(height // cells + 2, width // cells + 2, 3), dtype=np.uint8)
    return Image.fromarray(low).resize((width, height), Image.Resampling.BILINEAR)


def synthetic_labels(seed: int, count: int) -> np.ndarray:
    """Labels 0..999 from the seed; the first n of a longer list equal the list for count n."""
    rng = np.random.default_rng([seed, _LABEL_STREAM])
    return rng.integers(0, NUM_CLASSES, size=count, dtype=np.int64)


class SyntheticImageNet(ResidentCrops):
    """ImageNet-shaped synthetic QSL; same interface as ImageNetDataset."""

    dataset_id = DATASET_ID
    synthetic = True

    def __init__(
        self, count: int = 1024, seed: int = 0, transform: str = "pytorch", workers: int = 1
    ) -> None:
        if count < 1:
            raise ConfigError(
                f"sample count must be at least 1, got {count}", fix="pass --count N >= 1"
            )
        super().__init__(get_transform(transform), int(count), workers)
        self.seed = int(seed)
        self._labels = synthetic_labels(self.seed, self.total_count)

    def _make_crop(self, index: int) -> np.ndarray:
        return self.transform.crop_from_image(synthetic_image(self.seed, index), "pillow")

    def labels(self) -> np.ndarray:
        return self._labels.copy()

    def file_name(self, index: int) -> str:
        return f"synthetic_{index:05d}.JPEG"

    def write_val_map(self, path: Path) -> Path:
        """Write ``synthetic_%05d.JPEG <label>`` lines for accuracy-imagenet.py; returns path."""
        path = Path(path)
        lines = [f"{self.file_name(i)} {int(lab)}\n" for i, lab in enumerate(self._labels)]
        path.write_text("".join(lines), encoding="utf-8")
        return path

    def write_scoring_files(self, run_dir: Path) -> dict[str, str]:
        """Files the official accuracy script needs for this synthetic set, by role."""
        self.write_val_map(Path(run_dir) / "val_map.txt")
        return {"val_map": "val_map.txt"}

    def describe(self) -> dict[str, Any]:
        return {
            "dataset_id": self.dataset_id,
            "path": None,
            "total_count": self.total_count,
            "full_count": self.total_count,
            "subset": False,
            "seed": self.seed,
            "generator_version": GENERATOR_VERSION,
            "transform": self.transform.name,
            "transform_key": f"{self.transform.transform_id}/v{self.transform.version};synthetic",
            "synthetic": True,
        }
