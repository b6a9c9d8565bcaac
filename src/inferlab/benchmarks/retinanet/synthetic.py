"""retinanet's synthetic default: a seeded OpenImages-layout set (``dataset.
write_synthetic_openimages``: small images of coloured rectangles, their exact boxes as the
annotations) generated into the cache folder, read by the same QSL as the real data.

The set is labelled synthetic everywhere (its json says ``info.synthetic``; ``dataset_id``
``synthetic-openimages``; result.json's flags say SYNTHETIC DATA), and its mAP is only a
pipeline check. ``describe()`` gives no dataset path, so a rescore regenerates the set from its
seed and size instead of depending on the cache folder.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from inferlab.benchmarks.retinanet.dataset import (
    ANNOTATIONS,
    GENERATOR_VERSION,
    OpenImagesDataset,
    write_synthetic_openimages,
)

#: the folder under the cache directory that holds the generated sets, one per (count, seed)
CACHE_FOLDER = "synthetic-openimages"


def synthetic_dir(cache_dir: Path | None, count: int, seed: int) -> Path:
    """Where the set of ``count`` images from ``seed`` is generated: under the run's cache
    folder, or the system's temporary folder when there is none."""
    base = Path(cache_dir) if cache_dir is not None else Path(tempfile.gettempdir()) / "inferlab"
    return base / CACHE_FOLDER / f"v{GENERATOR_VERSION}-n{count}-seed{seed}"


class SyntheticOpenImages(OpenImagesDataset):
    """The QSL over a generated set (an :class:`OpenImagesDataset` whose json is synthetic)."""

    def __init__(
        self, count: int, seed: int, cache_dir: Path | None, *, workers: int | None = None
    ) -> None:
        root = write_synthetic_openimages(synthetic_dir(cache_dir, count, seed), count, seed)
        super().__init__(root, workers=workers)
        assert self.synthetic  # write_synthetic_openimages marks its json
        self.seed = int(seed)

    def write_scoring_files(self, run_dir: Path) -> dict[str, str]:
        """The annotations accuracy-openimages.py scores this run's log against, at the path
        it reads under ``--openimages-dir <run_dir>``."""
        dest = Path(run_dir) / ANNOTATIONS
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.annotation_file, dest)
        return {"annotations": ANNOTATIONS}

    def describe(self) -> dict[str, Any]:
        facts = super().describe()
        facts.update(
            path=None,  # regenerated from (count, seed), not read from a user's folder
            generated_in=str(self.path),
            seed=self.seed,
            generator_version=GENERATOR_VERSION,
        )
        return facts
