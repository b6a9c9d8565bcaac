"""Issue 15 item 8: resnet50's onnx variant decodes and resizes with OpenCV by default (its
reference preprocessing, ``pre_process_vgg``: cv2 decode, BGR->RGB, INTER_AREA resize of the short
side to 256, centre crop 224, minus the channel means, NCHW); the pytorch variants keep Pillow; a
missing OpenCV is an error that names the fix. Checked through the CLI on a tiny ImageNet folder
and a tiny ONNX ResNet, and against a direct cv2 computation of the same images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inferlab.benchmarks.resnet50 import preprocess as P
from inferlab.benchmarks.resnet50.dataset import ImageNetDataset
from inferlab.benchmarks.resnet50.spec import ONNX, PYTORCH
from inferlab.benchmarks.resnet50.task import TASK
from inferlab.core.errors import ConfigError
from tests.integration.helpers import cli
from tests.integration.imagenet_fixture import make_imagenet_dir

MEANS = np.array([123.68, 116.78, 103.94], dtype=np.float32)


def reference_input(path: Path) -> np.ndarray:
    """The reference's pre_process_vgg on one file, written out with cv2 and numpy directly:
    float32 CHW."""
    cv2 = pytest.importorskip("cv2")
    img = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    height, width = img.shape[:2]
    if height > width:
        w, h = 256, int(256 * height / width)
    else:
        h, w = 256, int(256 * width / height)
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    top, left = int((h - 224) / 2), int((w - 224) / 2)
    img = img[top : top + 224, left : left + 224].astype(np.float32) - MEANS
    return img.transpose(2, 0, 1)


def test_onnx_variant_defaults_to_cv2_and_matches_a_direct_cv2_computation(
    tmp_path: Path,
) -> None:
    pytest.importorskip("cv2")
    ds_dir, _ = make_imagenet_dir(tmp_path / "val", 5, seed=3)
    ds = ImageNetDataset(ds_dir, transform="mean_only")  # decoder not given: the transform's
    assert ds.decoder == "cv2" and ds.describe()["decoder_requested"] == "default"
    ds.load(range(5))
    got = ds.get_batch(np.arange(5))
    want = np.stack([reference_input(ds.file_path(i)) for i in range(5)])
    assert got.dtype == np.float32 and got.shape == (5, 3, 224, 224)
    assert np.array_equal(got, want)
    # the task hook (what a run builds): the onnx variant cv2, the pytorch variant Pillow
    for variant, decoder in ((ONNX, "cv2"), (PYTORCH, "pillow")):
        built = TASK.make_dataset(
            ds_dir, count=2, seed=0, cache_dir=None, variant=variant, decoder="default"
        )
        assert built.describe()["decoder"] == decoder  # type: ignore[attr-defined]
    explicit = TASK.make_dataset(
        ds_dir, count=2, seed=0, cache_dir=None, variant=ONNX, decoder="pillow"
    )
    assert explicit.describe()["decoder"] == "pillow"  # type: ignore[attr-defined]


def test_without_opencv_the_onnx_variant_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds_dir, _ = make_imagenet_dir(tmp_path / "val", 2)
    monkeypatch.setattr(P, "_cv2", lambda: None)
    with pytest.raises(ConfigError) as info:
        TASK.make_dataset(ds_dir, count=2, seed=0, cache_dir=None, variant=ONNX, decoder="default")
    err = info.value
    assert "onnx variant" in err.message and "OpenCV" in err.message
    assert err.fix is not None
    assert "pip install opencv-python-headless" in err.fix and "--set decoder=pillow" in err.fix
    assert "not the reference preprocessing" in err.fix
    with pytest.raises(ConfigError, match="needs OpenCV") as info:
        TASK.make_dataset(ds_dir, count=2, seed=0, cache_dir=None, variant=ONNX, decoder="cv2")
    assert info.value.fix is not None and "opencv-python-headless" in info.value.fix
    # Pillow, asked for, still runs (with a warning); the pytorch variant never needed OpenCV
    for variant, decoder in ((ONNX, "pillow"), (PYTORCH, "default")):
        built = TASK.make_dataset(
            ds_dir, count=2, seed=0, cache_dir=None, variant=variant, decoder=decoder
        )
        assert built.describe()["decoder"] == "pillow"  # type: ignore[attr-defined]


def test_cli_run_of_the_onnx_variant_records_cv2_and_logs_the_reference_s_labels(
    tmp_path: Path,
) -> None:
    pytest.importorskip("cv2")
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from tests.integration.test_onnxruntime_resnet import export_tiny_resnet

    n = 6
    ds_dir, _ = make_imagenet_dir(tmp_path / "val", n, seed=5)
    model = tmp_path / "resnet50_v1.onnx"
    export_tiny_resnet(model)
    proc = cli("run", "resnet50", "--backend", "onnxruntime", "--model-path", str(model),
               "--dataset-path", str(ds_dir), "--mode", "accuracy", "--no-calibrate", "-q",
               "--json", "--batch-size", "3", "--out", str(tmp_path / "runs"),
               "--cache-dir", str(tmp_path / "cache"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    result = json.loads((Path(doc["run_dir"]) / "result.json").read_text())
    assert result["benchmark"]["variant"]["name"] == "onnx"
    assert result["config"]["decoder"] == "default"
    dataset = result["dataset"]
    assert (dataset["transform"], dataset["decoder"]) == ("mean_only", "cv2")
    assert "decoder=cv2" in dataset["transform_key"] and "inter_area" in dataset["transform_key"]
    from inferlab.loadgen.accuracy_log import decode_hex, iter_entries

    logged = {
        e.qsl_idx: float(decode_hex(e.data, np.float32)[0])
        for e in iter_entries(Path(doc["run_dir"]) / "mlperf_log_accuracy.json")
    }
    names = [ln.split()[0] for ln in (ds_dir / "val_map.txt").read_text().splitlines()]
    batch = np.stack([reference_input(ds_dir / name) for name in names])
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    argmax, _ = sess.run(None, {"input_tensor:0": batch})
    assert logged == {i: float(argmax[i] - 1) for i in range(n)}


def test_cli_without_opencv_refuses_the_onnx_variant_before_the_run(tmp_path: Path) -> None:
    """OpenCV made unimportable (a cv2 module that raises ImportError, first on the path)."""
    import os

    shadow = tmp_path / "no_cv2"
    shadow.mkdir()
    (shadow / "cv2.py").write_text("raise ImportError('no OpenCV here')\n")
    ds_dir, _ = make_imagenet_dir(tmp_path / "val", 2)
    model = tmp_path / "resnet50_v1.onnx"
    model.write_bytes(b"\x08\x07")  # starts as an ONNX file does; never loaded
    path = os.pathsep.join(p for p in (str(shadow), os.environ.get("PYTHONPATH")) if p)
    proc = cli("run", "resnet50", "--backend", "onnxruntime", "--model-path", str(model),
               "--dataset-path", str(ds_dir), "--mode", "accuracy", "-q", "--json",
               "--out", str(tmp_path / "runs"), env={"PYTHONPATH": path})  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert doc["status"] == "error" and doc["run_dir"] is None
    assert "onnx variant" in doc["error"]["message"] and "OpenCV" in doc["error"]["message"]
    assert "pip install opencv-python-headless" in doc["error"]["fix"]
    assert "--set decoder=pillow" in doc["error"]["fix"]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
