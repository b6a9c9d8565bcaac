"""Import a user-provided ImageNet 2012 validation copy (there is no public download).

``inferlab prepare resnet50 --from PATH [--devkit DEVKIT]`` accepts:

* a directory of the 50,000 ``ILSVRC2012_val_%08d.JPEG`` files (flat), with or without the
  MLPerf ``val_map.txt``;
* the same images in class folders (``n01440764/ILSVRC2012_val_00000293.JPEG``, torchvision's
  ImageFolder layout): the labels come from the folder names;
* the ``ILSVRC2012_img_val.tar`` archive (extracted safely).

Labels, in this order: a ``val_map.txt`` beside the images; the ILSVRC 2012 devkit
(``ILSVRC2012_devkit_t12.tar.gz`` or its extracted folder: ``data/meta.mat`` +
``data/ILSVRC2012_validation_ground_truth.txt``); class folders. MLPerf's labels are 0..999 in
the sorted order of the 1,000 WordNet ids (n01440764 = 0), which is what the devkit's
ILSVRC2012_ID (meta.mat order) is mapped to here.

The import links (hardlink, else copy) the images into ``<root>/imagenet2012-val/``, writes
``val_map.txt`` atomically, checks the count and names (saying exactly which are missing),
decodes a sample of images, and returns what the manifest records. :func:`import_source` is the
importer the ``imagenet2012-val`` source declares (``sources.py``), which ``inferlab.data.prepare``
calls for ``--from``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inferlab.config.text import decode_utf8, read_bytes, read_utf8
from inferlab.core.errors import DataError, UnsupportedError
from inferlab.core.files import atomic_write_text

if TYPE_CHECKING:
    from inferlab.data.sources import Source

log = logging.getLogger(__name__)

DATASET_ID = "imagenet2012-val"
VAL_COUNT = 50_000
NUM_CLASSES = 1000
VAL_MAP = "val_map.txt"
_NAME_RE = re.compile(r"^ILSVRC2012_val_(\d{8})\.JPEG$")
_WNID_RE = re.compile(r"^n\d{8}$")
_GROUND_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
_SHOW = 10  # missing names listed in messages
_TRUTH_WHAT = "the devkit's ground truth"
_DEVKIT_FIX = "re-download ILSVRC2012_devkit_t12.tar.gz (this copy is damaged) and pass it"
_VAL_MAP_FIX = (
    "save it as UTF-8 with one '<file> <label>' line per image, or drop it and pass --devkit "
    "ILSVRC2012_devkit_t12.tar.gz to derive the labels"
)


def val_name(i: int) -> str:
    """The file name of validation image ``i`` (1-based, as ImageNet numbers them)."""
    return f"ILSVRC2012_val_{i:08d}.JPEG"


@dataclass(frozen=True)
class ValScan:
    """What a directory holds: the validation images found (name -> path), the class folder of
    each when the layout has them, and what is missing or unexpected."""

    root: Path
    layout: str  # "flat" | "class-folders"
    files: dict[str, Path]
    folder_of: dict[str, str] = field(default_factory=dict)  # name -> wnid (class folders)
    unexpected: tuple[str, ...] = ()

    @property
    def missing(self) -> list[str]:
        return [val_name(i) for i in range(1, VAL_COUNT + 1) if val_name(i) not in self.files]

    def describe_missing(self) -> str:
        missing = self.missing
        if not missing:
            return "all 50,000 images present"
        shown = ", ".join(missing[:_SHOW]) + (", ..." if len(missing) > _SHOW else "")
        return f"{len(missing):,} of 50,000 images missing ({shown})"


def scan_val_dir(path: Path) -> ValScan:
    """Find the validation JPEGs in ``path`` (flat, or one level of class folders)."""
    if not path.is_dir():
        raise DataError(f"{path} is not a directory", "pass the folder holding the JPEGs")
    files: dict[str, Path] = {}
    folder_of: dict[str, str] = {}
    unexpected: list[str] = []
    layout = "flat"
    for entry in sorted(os.scandir(path), key=lambda e: e.name):
        if entry.is_dir() and _WNID_RE.match(entry.name):
            layout = "class-folders"
            for sub in os.scandir(entry.path):
                if _NAME_RE.match(sub.name):
                    files[sub.name] = Path(sub.path)
                    folder_of[sub.name] = entry.name
                else:
                    unexpected.append(f"{entry.name}/{sub.name}")
        elif entry.is_file() and _NAME_RE.match(entry.name):
            files[entry.name] = Path(entry.path)
        elif entry.name not in (VAL_MAP, "LOC_val_solution.csv") and not entry.name.startswith("."):
            unexpected.append(entry.name)
    if layout == "class-folders" and len(folder_of) != len(files):
        raise DataError(
            f"{path} mixes class folders with loose images",
            "use one layout: all images in one folder, or all in class folders",
        )
    return ValScan(path, layout, files, folder_of, tuple(unexpected))


# --------------------------------------------------------------------------- labels


def read_labels_file(path: Path) -> dict[str, int]:
    """A val_map.txt: ``<file name> <label>`` per line -> {name: label}."""
    out: dict[str, int] = {}
    text = read_utf8(
        path,
        what="label list",
        error=DataError,
        missing_fix="check the path",
        bom=True,
        fix=_VAL_MAP_FIX,
    )
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise DataError(
                f"{path} line {lineno} is not '<file> <label>': {line[:80]!r}",
                _VAL_MAP_FIX,
            )
        label = int(parts[1])
        if not 0 <= label < NUM_CLASSES:
            raise DataError(
                f"{path} line {lineno}: label {label} outside 0..999",
                "MLPerf's val_map.txt uses 0-based labels",
            )
        out[Path(parts[0]).name] = label
    return out


def labels_from_folders(scan: ValScan, wnids: Iterable[str] | None = None) -> dict[str, int]:
    """Class folders -> labels, the index of each folder's wnid in the sorted 1,000 wnids
    (``wnids`` when given, e.g. from the devkit; else the folders themselves, which must then
    be all 1,000 classes)."""
    classes = sorted(set(wnids) if wnids is not None else set(scan.folder_of.values()))
    if len(classes) != NUM_CLASSES:
        raise DataError(
            f"{scan.root} has {len(classes)} class folders, ImageNet has {NUM_CLASSES}: the "
            "labels cannot be derived from the folder names",
            "pass --devkit ILSVRC2012_devkit_t12.tar.gz (or put MLPerf's val_map.txt beside "
            "the images)",
        )
    index = {w: i for i, w in enumerate(classes)}
    unknown = sorted({w for w in scan.folder_of.values() if w not in index})
    if unknown:
        raise DataError(
            f"class folders {unknown[:5]} are not ImageNet classes",
            "remove them or pass the right --devkit",
        )
    return {name: index[w] for name, w in scan.folder_of.items()}


def _loadmat(data: bytes) -> Any:
    try:
        import io

        from scipy.io import loadmat
    except ImportError:
        raise UnsupportedError(
            "reading the devkit's meta.mat needs scipy",
            "pip install scipy (or 'inferlab[data]'), or pass MLPerf's val_map.txt instead",
        ) from None
    return loadmat(io.BytesIO(data), squeeze_me=True, struct_as_record=False)


def _truth_text(raw: bytes, where: Path | str) -> str:
    """The devkit's ground truth (ASCII digits): a file that is not UTF-8 is a damaged copy."""
    return decode_utf8(raw, where, what=_TRUTH_WHAT, error=DataError, fix=_DEVKIT_FIX)


def _devkit_files(devkit: Path) -> tuple[bytes, str]:
    """(meta.mat bytes, ground-truth text) from the devkit tarball or its extracted folder."""
    if devkit.is_dir():
        metas = list(devkit.rglob("meta.mat"))
        truths = list(devkit.rglob(_GROUND_TRUTH))
        if not metas or not truths:
            raise DataError(
                f"{devkit} has no data/meta.mat and data/{_GROUND_TRUTH}",
                "pass ILSVRC2012_devkit_t12.tar.gz or its extracted folder",
            )
        raw = read_bytes(truths[0], what=_TRUTH_WHAT, error=DataError, missing_fix=_DEVKIT_FIX)
        return metas[0].read_bytes(), _truth_text(raw, truths[0])
    try:
        with tarfile.open(devkit) as tar:
            meta = truth = None
            for m in tar.getmembers():
                if not m.isfile():
                    continue
                if m.name.endswith("/meta.mat") or m.name == "meta.mat":
                    meta = tar.extractfile(m).read()  # type: ignore[union-attr]
                elif m.name.endswith(_GROUND_TRUTH):
                    raw = tar.extractfile(m).read()  # type: ignore[union-attr]
                    truth = _truth_text(raw, f"{m.name} in {devkit}")
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataError(
            f"cannot read the devkit {devkit}: {err}", "re-download ILSVRC2012_devkit_t12.tar.gz"
        ) from err
    if meta is None or truth is None:
        raise DataError(
            f"{devkit} lacks meta.mat or {_GROUND_TRUTH}",
            "pass the ILSVRC 2012 devkit (ILSVRC2012_devkit_t12.tar.gz)",
        )
    return meta, truth


def devkit_wnids(meta: Any) -> dict[int, str]:
    """ILSVRC2012_ID -> wnid of the 1,000 leaf classes in a loaded meta.mat."""
    out: dict[int, str] = {}
    for s in meta["synsets"]:
        if int(getattr(s, "num_children", 0)) == 0:
            out[int(s.ILSVRC2012_ID)] = str(s.WNID)
    if len(out) != NUM_CLASSES:
        raise DataError(
            f"the devkit lists {len(out)} leaf classes, expected {NUM_CLASSES}",
            "use the ILSVRC 2012 devkit (ILSVRC2012_devkit_t12)",
        )
    return out


def labels_from_devkit(devkit: Path) -> dict[str, int]:
    """Validation image name -> MLPerf label (sorted-wnid index) from the devkit."""
    meta_bytes, truth = _devkit_files(devkit)
    ids = devkit_wnids(_loadmat(meta_bytes))
    order = {w: i for i, w in enumerate(sorted(ids.values()))}
    lines = [x for x in truth.split() if x]
    if len(lines) != VAL_COUNT:
        raise DataError(
            f"the devkit's ground truth has {len(lines)} entries, expected 50,000",
            "re-download the devkit",
        )
    return {val_name(i + 1): order[ids[int(x)]] for i, x in enumerate(lines)}


def val_map_text(labels: dict[str, int], names: Iterable[str]) -> str:
    """MLPerf's val_map.txt: one ``<file name> <label>`` line per image, in file order."""
    return "".join(f"{n} {labels[n]}\n" for n in sorted(names))


# --------------------------------------------------------------------------- import


@dataclass
class ImportReport:
    target: Path
    images: int
    layout: str
    labels_from: str
    linked: int = 0
    copied: int = 0
    decoded: int = 0
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.images == VAL_COUNT and not self.missing


def _place(src: Path, dst: Path) -> str:
    """Hardlink ``src`` at ``dst`` (no extra space), else copy."""
    try:
        os.link(src, dst)
        return "linked"
    except OSError:
        shutil.copy2(src, dst)
        return "copied"


def sample_decode(files: list[Path], k: int = 16) -> tuple[int, list[str]]:
    """Decode the first, the last and ``k`` evenly spaced images; return how many were decoded
    and the failures."""
    from PIL import Image

    if not files:
        return 0, []
    step = max(1, len(files) // k)
    pick = sorted({0, len(files) - 1, *range(0, len(files), step)})
    bad = []
    for i in pick:
        try:
            with Image.open(files[i]) as img:
                img.convert("RGB").load()
        except Exception as err:  # noqa: BLE001 - any decoder error is a bad image
            bad.append(f"{files[i].name}: {err}")
    return len(pick), bad


def import_val(src: Path, root: Path, *, devkit: Path | None = None) -> ImportReport:
    """Bring a user's ImageNet validation copy into ``<root>/imagenet2012-val`` (see module)."""
    target = root / DATASET_ID
    if src.is_file() and tarfile.is_tarfile(src):
        from inferlab.data.extract import safe_extract

        with tempfile.TemporaryDirectory(dir=root, prefix=".import-") as tmp:
            out = Path(tmp) / "val"
            safe_extract(src, out, max_total_bytes=8 << 30, max_files=VAL_COUNT + 16)
            return import_val(out, root, devkit=devkit)
    if not src.exists():
        raise DataError(
            f"{src} does not exist", "pass the folder of validation JPEGs or ILSVRC2012_img_val.tar"
        )
    scan = scan_val_dir(src)
    if not scan.files:
        raise DataError(
            f"no ILSVRC2012_val_*.JPEG images in {src}",
            "pass the folder of the 50,000 validation JPEGs (or the tar)",
        )
    labels: dict[str, int]
    if (src / VAL_MAP).is_file():
        labels, source = read_labels_file(src / VAL_MAP), f"{src / VAL_MAP}"
    elif devkit is not None:
        labels, source = labels_from_devkit(devkit), f"devkit {devkit}"
    elif scan.layout == "class-folders":
        labels, source = labels_from_folders(scan), "class folder names (sorted wnids)"
    else:
        raise DataError(
            f"{src} has the images but no labels",
            "pass --devkit ILSVRC2012_devkit_t12.tar.gz, or put MLPerf's val_map.txt beside the "
            "images",
        )
    unlabelled = sorted(n for n in scan.files if n not in labels)
    if unlabelled:
        raise DataError(
            f"{len(unlabelled)} images have no label in {source} (e.g. {unlabelled[0]})",
            "use the matching devkit or val_map.txt",
        )
    decoded, bad = sample_decode([scan.files[n] for n in sorted(scan.files)])
    if bad:
        raise DataError(
            f"{len(bad)} sampled images do not decode: {'; '.join(bad[:3])}",
            "re-copy or re-download those files",
        )
    if target.resolve() != src.resolve():
        target.mkdir(parents=True, exist_ok=True)
    report = ImportReport(target, len(scan.files), scan.layout, source, decoded=decoded)
    for name in sorted(scan.files):
        dst = target / name
        if dst.exists() and dst.stat().st_size == scan.files[name].stat().st_size:
            continue
        how = _place(scan.files[name], dst) if dst != scan.files[name] else "linked"
        if how == "linked":
            report.linked += 1
        else:
            report.copied += 1
    atomic_write_text(target / VAL_MAP, val_map_text(labels, scan.files))
    report.missing = scan.missing
    if scan.unexpected:
        report.notes.append(
            f"ignored {len(scan.unexpected)} other file(s), e.g. {scan.unexpected[0]}"
        )
    log.info("imagenet import: %d images (%s), labels from %s", report.images, scan.layout, source)
    return report


def import_source(
    source: Source,
    root: Path,
    from_path: Path,
    record: Callable[[str, str], None],
    options: Mapping[str, Path],
) -> str:
    """The ``--from`` importer of ``imagenet2012-val`` (an ``inferlab.data.prepare.Importer``):
    imports the copy at ``from_path`` (labels from ``options["devkit"]`` when given), refuses
    an incomplete one, records the complete one and returns the line prepare reports."""
    report = import_val(from_path, root, devkit=options.get("devkit"))
    if not report.complete:
        shown = ", ".join(report.missing[:5])
        raise DataError(
            f"the copy at {from_path} is incomplete: {len(report.missing):,} of 50,000 images "
            f"missing ({shown}{', ...' if len(report.missing) > 5 else ''}); imported "
            f"{report.images:,} into {report.target}",
            "complete the copy (or re-extract ILSVRC2012_img_val.tar) and rerun with --from; "
            "runs on the partial set need --count and are labelled subset",
        )
    record(
        f"user-provided from {from_path}",
        f"50,000 names + labels ({report.labels_from}) + sample decode + tree-sha256",
    )
    return (
        f"{report.images:,} images ({report.layout}; {report.linked} linked, {report.copied} "
        f"copied), labels from {report.labels_from}"
    )
