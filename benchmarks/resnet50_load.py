#!/usr/bin/env python3
"""ResNet50 sample load with a cold preprocessing cache: 1 thread vs N.

What LoadGen's load_samples_to_ram costs before a run when the preprocessed cache is empty
(first run, new decoder, new library version): ``ImageNetDataset.load`` reads, decodes, resizes
and centre-crops every sample it is given, in ``workers`` threads (inferlab's default: the CPUs
of the process's affinity mask, at most 16; the reference harness uses its ``--threads``).

The images are generated JPEGs (quality 90, a smooth random picture upsampled, the sizes drawn
around ImageNet validation's typical 500x375), written once to a temporary folder; each timed load
is a fresh dataset (no resident samples) with either no cache or an empty cache folder that it
fills (--cache: includes writing the entries). The OS file cache is warm (the JPEGs were just
written), so this measures decode + resize + crop (+ cache writes), not the disk. Median of
--repeats loads per row; every row checks that its crops equal the 1-thread crops byte for byte.

    python benchmarks/resnet50_load.py                       # 64 images, 1 and 2 threads
    python benchmarks/resnet50_load.py --images 256 --threads 1,2,4,8 --cache
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_images(root: Path, n: int, seed: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        w, h = (500, 375) if i % 3 else (int(rng.integers(300, 640)), int(rng.integers(240, 500)))
        if i % 4 == 1:
            w, h = h, w  # some portrait
        low = rng.integers(0, 256, size=(h // 12 + 2, w // 12 + 2, 3), dtype=np.uint8)
        img = Image.fromarray(low).resize((w, h), Image.Resampling.BICUBIC)
        name = f"ILSVRC2012_val_{i + 1:08d}.JPEG"
        img.save(root / name, format="JPEG", quality=90)
        lines.append(f"{name} {i % 1000}")
    (root / "val_map.txt").write_text("\n".join(lines) + "\n")
    return root


def time_load(
    images: Path, n: int, transform: str, decoder: str, workers: int, cache_root: Path | None
) -> tuple[float, np.ndarray]:
    from inferlab.benchmarks.resnet50.dataset import ImageNetDataset
    from inferlab.preprocessing.cache import Cache

    cache = None
    if cache_root is not None:
        cache_root.mkdir(parents=True)
        cache = Cache(cache_root, "cold")  # the dataset re-keys it to its transform key
    ds = ImageNetDataset(images, transform=transform, decoder=decoder, cache=cache, workers=workers)
    t0 = time.perf_counter()
    ds.load(range(n))
    dt_s = time.perf_counter() - t0
    if ds.cache is not None:
        assert ds.cache.stats.misses == n and ds.cache.stats.hits == 0, ds.cache.stats
    return dt_s, ds.raw_batch(np.arange(n))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--combos",
        default="pytorch:pillow,mean_only:cv2,mean_only:pillow",
        help="transform:decoder pairs (pytorch is the torch variants', mean_only the onnx one's)",
    )
    ap.add_argument("--cache", action="store_true", help="write through an empty cache folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--cv2-threads", type=int, default=None, help="cv2.setNumThreads first (its own pool)"
    )
    args = ap.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    combos = [tuple(c.split(":")) for c in args.combos.split(",")]

    from inferlab.benchmarks.resnet50.dataset import default_workers
    from inferlab.benchmarks.resnet50.preprocess import _cv2

    cv2 = _cv2()
    if cv2 is not None and args.cv2_threads is not None:
        cv2.setNumThreads(args.cv2_threads)
    if cv2 is None:
        combos = [c for c in combos if c[1] != "cv2"]
    import PIL

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"# resnet50 cold-cache sample load, {args.images} generated JPEGs, "
        f"{platform.processor() or platform.machine()}, {cpus} CPUs in the affinity mask "
        f"(default threads {default_workers()}), Python {platform.python_version()}, "
        f"Pillow {PIL.__version__}, OpenCV {getattr(cv2, '__version__', 'absent')}"
        f"{f' (its own threads: {cv2.getNumThreads()})' if cv2 is not None else ''}, "
        f"cache {'written' if args.cache else 'off'}, median of {args.repeats}, "
        f"{dt.datetime.now(dt.UTC).strftime('%Y-%m-%d')}"
    )
    print(
        f"{'transform':10} {'decoder':8} {'threads':>7} {'load s':>8} {'images/s':>9} "
        f"{'speed-up':>8} {'same bytes':>10}"
    )
    with tempfile.TemporaryDirectory(prefix="resnet50-load-") as tmp:
        images = make_images(Path(tmp) / "val", args.images, args.seed)
        run = 0
        for transform, decoder in combos:
            base: float | None = None
            ref: np.ndarray | None = None
            for workers in threads:
                times = []
                same = True
                for _ in range(args.repeats):
                    run += 1
                    cache_root = Path(tmp) / f"cache{run}" if args.cache else None
                    t, crops = time_load(
                        images, args.images, transform, decoder, workers, cache_root
                    )
                    times.append(t)
                    if ref is None:
                        ref = crops
                    same = same and np.array_equal(crops, ref)
                med = statistics.median(times)
                base = med if base is None else base
                print(
                    f"{transform:10} {decoder:8} {workers:>7} {med:>8.3f} "
                    f"{args.images / med:>9.1f} {base / med:>7.2f}x {'yes' if same else 'NO':>10}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
