"""Importing a user's ImageNet validation copy: layouts, labels from val_map / devkit / class
folders, the missing-image report, bad images, and the importer the source declares for
``prepare --from``."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inferlab.benchmarks.resnet50 import imagenet_import
from inferlab.benchmarks.resnet50.dataset import read_val_map
from inferlab.benchmarks.resnet50.imagenet_import import (
    VAL_COUNT,
    import_source,
    import_val,
    labels_from_devkit,
    labels_from_folders,
    scan_val_dir,
    val_name,
)
from inferlab.core.errors import DataError


def _jpeg(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(path, "JPEG")


def _wnids() -> list[str]:
    # 1,000 distinct wnids whose devkit order (ILSVRC2012_ID) differs from their sorted order
    rng = np.random.default_rng(0)
    ids = sorted({int(x) for x in rng.integers(1_000_000, 9_999_999, 3000)})[:1000]
    w = [f"n{i:08d}" for i in ids]
    rng.shuffle(w)
    return w


def _devkit(tmp: Path, wnids: list[str], truth: list[int]) -> Path:
    scipy_io = pytest.importorskip("scipy.io")
    dtype = [("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("num_children", "O")]
    rows = [(i + 1, w, f"class {i}", 0) for i, w in enumerate(wnids)]
    rows += [(1001, "n00001740", "entity", 3)]  # a non-leaf synset, ignored
    synsets = np.array(rows, dtype=dtype)
    buf = io.BytesIO()
    scipy_io.savemat(buf, {"synsets": synsets})
    path = tmp / "ILSVRC2012_devkit_t12.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in (
            ("ILSVRC2012_devkit_t12/data/meta.mat", buf.getvalue()),
            (
                "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt",
                "".join(f"{t}\n" for t in truth).encode(),
            ),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_flat_dir_with_val_map_is_imported_and_missing_images_are_named(tmp_path: Path) -> None:
    src = tmp_path / "val"
    src.mkdir()
    for i in (1, 2, 5):
        _jpeg(src / val_name(i), i)
    (src / "val_map.txt").write_text(f"{val_name(1)} 7\n{val_name(2)} 0\n{val_name(5)} 999\n")
    report = import_val(src, tmp_path / "root")
    target = tmp_path / "root" / "imagenet2012-val"
    assert report.images == 3 and report.linked + report.copied == 3
    assert not report.complete and len(report.missing) == VAL_COUNT - 3
    assert report.missing[:2] == [val_name(3), val_name(4)]
    names, labels = read_val_map(target / "val_map.txt")
    assert names == [val_name(1), val_name(2), val_name(5)] and labels.tolist() == [7, 0, 999]
    assert (target / val_name(5)).read_bytes() == (src / val_name(5)).read_bytes()
    text = scan_val_dir(target).describe_missing()
    assert text.startswith("49,997 of 50,000 images missing (ILSVRC2012_val_00000003.JPEG")
    again = import_val(src, tmp_path / "root")  # a rerun places nothing new
    assert again.linked + again.copied == 0


def test_devkit_labels_follow_the_sorted_wnid_order(tmp_path: Path) -> None:
    wnids = _wnids()
    rng = np.random.default_rng(1)
    truth = [int(x) for x in rng.integers(1, 1001, VAL_COUNT)]
    devkit = _devkit(tmp_path, wnids, truth)
    labels = labels_from_devkit(devkit)
    order = sorted(wnids)
    assert len(labels) == VAL_COUNT
    for i in (0, 1, 12345, VAL_COUNT - 1):
        assert labels[val_name(i + 1)] == order.index(wnids[truth[i] - 1])
    src = tmp_path / "val"
    src.mkdir()
    for i in (1, 2):
        _jpeg(src / val_name(i), i)
    report = import_val(src, tmp_path / "root", devkit=devkit)
    assert report.labels_from.startswith("devkit")
    _, got = read_val_map(tmp_path / "root" / "imagenet2012-val" / "val_map.txt")
    assert got.tolist() == [labels[val_name(1)], labels[val_name(2)]]


def test_class_folders_give_labels_only_with_all_classes(tmp_path: Path) -> None:
    src = tmp_path / "val"
    (src / "n01440764").mkdir(parents=True)
    (src / "n01443537").mkdir()
    _jpeg(src / "n01440764" / val_name(3), 3)
    _jpeg(src / "n01443537" / val_name(9), 9)
    scan = scan_val_dir(src)
    assert scan.layout == "class-folders" and set(scan.files) == {val_name(3), val_name(9)}
    with pytest.raises(DataError, match="2 class folders") as err:
        import_val(src, tmp_path / "root")
    assert "--devkit" in err.value.fix
    wnids = ["n01440764", "n01443537", *(f"n{20000000 + k:08d}" for k in range(998))]
    labels = labels_from_folders(scan, wnids)
    assert labels == {val_name(3): 0, val_name(9): 1}


def test_no_labels_and_bad_images_are_refused(tmp_path: Path) -> None:
    src = tmp_path / "val"
    src.mkdir()
    _jpeg(src / val_name(1), 1)
    with pytest.raises(DataError, match="no labels") as err:
        import_val(src, tmp_path / "root")
    assert "--devkit" in err.value.fix
    (src / "val_map.txt").write_text(f"{val_name(1)} 3\n{val_name(2)} 4\n")
    (src / val_name(2)).write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(DataError, match="do not decode"):
        import_val(src, tmp_path / "root")
    assert not (tmp_path / "root" / "imagenet2012-val" / "val_map.txt").exists()
    with pytest.raises(DataError, match="does not exist"):
        import_val(tmp_path / "nope", tmp_path / "root")


def test_the_validation_tar_is_extracted_safely_and_imported(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    for i in (1, 2):
        _jpeg(stage / val_name(i), i)
    (stage / "val_map.txt").write_text(f"{val_name(1)} 5\n{val_name(2)} 6\n")
    tar_path = tmp_path / "ILSVRC2012_img_val.tar"
    with tarfile.open(tar_path, "w") as tar:
        for p in sorted(stage.iterdir()):
            tar.add(p, arcname=p.name)
    root = tmp_path / "root"
    root.mkdir()
    report = import_val(tar_path, root)
    assert report.images == 2 and report.copied + report.linked == 2
    names, labels = read_val_map(root / "imagenet2012-val" / "val_map.txt")
    assert names == [val_name(1), val_name(2)] and labels.tolist() == [5, 6]
    assert [p.name for p in root.iterdir()] == ["imagenet2012-val"]  # no staging left behind


def test_the_declared_importer_records_a_complete_copy_and_refuses_a_partial_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inferlab.data.sources import resolve_ref, sources_for

    source = sources_for("resnet50").source("imagenet2012-val")
    assert source.importer is not None and resolve_ref(source.importer) is import_source
    src = tmp_path / "val"
    src.mkdir()
    for i in (1, 2, 3):
        _jpeg(src / val_name(i), i)
    (src / "val_map.txt").write_text("".join(f"{val_name(i)} {i}\n" for i in (1, 2, 3)))
    records: list[tuple[str, str]] = []

    def record(origin: str, verification: str) -> None:
        records.append((origin, verification))

    with pytest.raises(DataError, match="49,997 of 50,000 images missing") as err:
        import_source(source, tmp_path / "root", src, record, {})
    assert "--from" in err.value.fix and records == []
    monkeypatch.setattr(imagenet_import, "VAL_COUNT", 3)  # a "complete" set of three
    line = import_source(source, tmp_path / "root", src, record, {})
    assert line == f"3 images (flat; 0 linked, 0 copied), labels from {src / 'val_map.txt'}"
    assert records == [
        (
            f"user-provided from {src}",
            f"50,000 names + labels ({src / 'val_map.txt'}) + sample decode + tree-sha256",
        )
    ]
