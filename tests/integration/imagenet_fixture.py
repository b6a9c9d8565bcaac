"""A tiny ImageNet validation directory in the MLPerf layout (JPEGs + val_map.txt)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def make_imagenet_dir(root: Path, n: int, *, seed: int = 0) -> tuple[Path, list[int]]:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = [int(x) for x in rng.integers(0, 1000, size=n)]
    lines = []
    for i in range(n):
        h, w = int(rng.integers(180, 400)), int(rng.integers(180, 400))
        small = rng.integers(0, 256, size=(h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((w, h), Image.BILINEAR)
        name = f"ILSVRC2012_val_{i + 1:08d}.JPEG"
        img.save(root / name, format="JPEG", quality=90)
        lines.append(f"{name} {labels[i]}")
    (root / "val_map.txt").write_text("\n".join(lines) + "\n")
    return root, labels
