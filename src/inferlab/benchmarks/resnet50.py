"""ResNet50-v1.5 on ImageNet 2012 validation (MLPerf `resnet50`, checker `resnet`).

Torch-free at import: the network is built in `inferlab.models.resnet`, imported lazily.
Facts: rules file §1.3 (mlperf.conf), §2.1 (targets), §3 (accuracy-imagenet.py), §4 (preprocessing).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from inferlab.core.dataset import Dataset
from inferlab.core.errors import DataError, ModelError
from inferlab.core.rounds import targets_by_round
from inferlab.core.spec import (
    BenchmarkSpec,
    QuickSettings,
    Scenario,
    Variant,
)
from inferlab.core.task import (
    BatchPlan,
    Evaluation,
    MetricValue,
    ModelFacts,
    find_dataset,
    find_model_file,
)

log = logging.getLogger(__name__)

DATASET_ID = "imagenet2012-val"
CAL_LIST = "mlperf-calibration/ImageNet/cal_image_list_option_1.txt"  # under the data root
MODEL_ID = "resnet50"


PYTORCH = Variant(
    name="pytorch",
    fmt="torch-state-dict",
    preprocessing="imagenet-pytorch",
    num_classes=1000,
    label_offset=0,
    output_dtype="float32",
    output_layout="one float32 per sample: the predicted class index (0..999)",
    checkpoint_name="resnet50-19c8e357.pth",
    expected_accuracy=76.014,
    backends=("torch", "null"),
)

# The same code at a fraction of the width and depth, random weights only: a pipeline smoke test
# (fast integration tests, harness debugging). Never an accuracy claim.
TINY = Variant(
    name="tiny",
    fmt="random-init",
    preprocessing="imagenet-pytorch",
    num_classes=1000,
    label_offset=0,
    output_dtype="float32",
    output_layout=PYTORCH.output_layout,
    backends=("torch",),
)
_TINY_ARCH = {"width": 8, "layers": (1, 1, 1, 1)}

# The TF-derived ONNX file of the reference (resnet50_v1.onnx, zenodo 2592612): 1001 classes
# (index 0 = background, so labels are output - 1), mean-only preprocessing (rules file §4),
# NCHW for onnxruntime. Runs on the onnxruntime backend.
ONNX = Variant(
    name="onnx",
    fmt="onnx",
    preprocessing="imagenet-mean-only",
    num_classes=1001,
    label_offset=-1,
    output_dtype="float32",
    output_layout=PYTORCH.output_layout,
    checkpoint_name="resnet50_v1.onnx",
    expected_accuracy=76.456,
    backends=("onnxruntime",),
)


def _transform(variant: Variant) -> str:
    return "mean_only" if variant.preprocessing == ONNX.preprocessing else "pytorch"


class ResNetOnnxIO:
    """NCHW float32 batch -> the graph's one image input; its outputs -> (n, 1001) scores: the
    softmax/logits output when the graph has one, else one-hot rows from its ArgMax output."""

    def feeds(self, inputs: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
        if len(names) != 1:
            raise ModelError(
                f"the ResNet50 ONNX model should have one input, it has {names}",
                "use the MLPerf resnet50_v1.onnx file",
            )
        return {names[0]: np.ascontiguousarray(inputs, dtype=np.float32)}

    def output(self, outputs: list[np.ndarray], names: list[str]) -> np.ndarray:
        for out in outputs:
            if out.ndim == 2 and out.shape[1] > 1:
                return out
        for out in outputs:
            if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
                classes = out.reshape(-1).astype(np.int64)
                onehot = np.zeros((classes.shape[0], ONNX.num_classes or 1001), np.float32)
                onehot[np.arange(classes.shape[0]), classes] = 1.0
                return onehot
        raise ModelError(
            f"unexpected ONNX outputs {names} with shapes {[o.shape for o in outputs]}",
            "use the MLPerf resnet50_v1.onnx file (outputs ArgMax:0 and softmax_tensor:0)",
        )


class ResNet50Task:
    """Hooks the runner calls for resnet50."""

    image_inputs = True  # NCHW images: channels-last pays off on a GPU

    def resolve_dataset_path(self, data_dir: Path | None, dataset_path: Path | None) -> Path | None:
        return find_dataset(
            data_dir, dataset_path, DATASET_ID, "the ImageNet validation JPEGs and val_map.txt"
        )

    def make_dataset(
        self,
        path: Path | None,
        *,
        count: int | None,
        seed: int,
        cache_dir: Path | None,
        variant: Variant,
        decoder: str,
        synthetic_count: int | None = None,
    ) -> Dataset:
        if path is None:
            from inferlab.datasets.synthetic import SyntheticImageNet

            n = count or synthetic_count or SPEC.synthetic_count
            return SyntheticImageNet(count=n, seed=seed, transform=_transform(variant))
        from inferlab.datasets.imagenet import ImageNetDataset
        from inferlab.preprocessing.cache import Cache
        from inferlab.preprocessing.imagenet import get_transform, resolve_decoder

        tf = get_transform(_transform(variant))
        if tf.name == "mean_only" and resolve_decoder(decoder) != "cv2":
            log.warning(
                "the onnx variant's reference resize is OpenCV INTER_AREA; without OpenCV it is "
                "approximated with Pillow (not bit-identical): install inferlab[vision] and "
                "pass --set decoder=cv2 for reference preprocessing"
            )
        cache = Cache(cache_dir, tf.key(decoder)) if cache_dir is not None else None
        return ImageNetDataset(
            path, count=count, decoder=decoder, cache=cache, transform=_transform(variant)
        )

    def resolve_model_path(
        self, data_dir: Path | None, model_path: Path | None, variant: Variant | None = None
    ) -> Path | None:
        name = (variant or PYTORCH).checkpoint_name or ""
        return find_model_file(data_dir, model_path, MODEL_ID, name)

    def onnx_io(self, variant: Variant) -> Any:
        return ResNetOnnxIO()

    def build_model(
        self, variant: Variant, model_path: Path | None, *, seed: int
    ) -> tuple[Any, ModelFacts]:
        import torch

        from inferlab.models.resnet import build_resnet50, load_state_dict_file

        torch.manual_seed(seed)
        if variant.name == TINY.name:  # random-init: prepare() refuses a --model-path for it
            tiny = build_resnet50(num_classes=variant.num_classes or 1000, **_TINY_ARCH)
            return tiny, ModelFacts(random_weights=True, extra={"init_seed": seed, **_TINY_ARCH})
        model = build_resnet50(num_classes=variant.num_classes or 1000)
        if model_path is None:
            return model, ModelFacts(random_weights=True, extra={"init_seed": seed})
        facts = load_state_dict_file(model, model_path)
        return model, ModelFacts(
            random_weights=False,
            path=str(model_path),
            sha256=facts.get("sha256"),
            size_bytes=facts.get("size_bytes"),
        )

    def calibration_set(
        self, dataset: Any, data_dir: Path | None, batch_size: int
    ) -> tuple[list[np.ndarray], dict[str, Any]]:
        """Inputs to calibrate 8-bit (int8, fp8) activation ranges on: MLPerf's calibration list
        (500 validation images, the closed division's only allowed set) when the data root has
        it (`inferlab prepare resnet50` fetches it) and the data is real; otherwise a stand-in,
        the first samples of this run's QSL, labelled as such (open division at most)."""
        import hashlib

        bs = max(8, min(batch_size, 64))  # batch 1 (SingleStream on CUDA) would be slow
        cal = data_dir / CAL_LIST if data_dir is not None else None
        if not dataset.synthetic and cal is not None and cal.is_file():
            text = cal.read_text()
            names = [line.strip() for line in text.splitlines() if line.strip()]
            missing = [n for n in names if not (dataset.path / n).is_file()]
            if missing:
                raise DataError(
                    f"{len(missing)} calibration images of {cal.name} are not in "
                    f"{dataset.path} (e.g. {missing[0]})",
                    "import the full validation set: inferlab prepare resnet50 --from ...",
                )
            tf = dataset.transform
            crops = [
                tf.crop_from_bytes((dataset.path / n).read_bytes(), decoder=dataset.decoder, name=n)
                for n in names
            ]
            batches = [tf.normalize(np.stack(crops[i : i + bs])) for i in range(0, len(crops), bs)]
            facts = {
                "source": f"MLPerf calibration list {cal.name}",
                "list": str(cal),
                "list_sha256": hashlib.sha256(text.encode()).hexdigest(),
                "count": len(names),
                "closed_division": True,
            }
            return batches, facts
        n = min(dataset.total_count, 64)
        idx = list(range(n))
        dataset.load(idx)
        batches = [dataset.get_batch(np.arange(i, min(i + bs, n))) for i in range(0, n, bs)]
        dataset.unload(idx)
        why = "synthetic data" if dataset.synthetic else f"no {CAL_LIST} under the data root"
        facts = {
            "source": f"stand-in: the first {n} samples of this run's QSL ({why}); not MLPerf's "
            "calibration set, not valid for the closed division",
            "count": n,
            "closed_division": False,
        }
        return batches, facts

    def null_output_shape(self, variant: Variant) -> tuple[int, ...]:
        return (variant.num_classes or 1000,)

    def postprocess(
        self, outputs: np.ndarray, variant: Variant, indices: np.ndarray, dataset: Dataset
    ) -> np.ndarray:
        labels = np.argmax(outputs, axis=1) + variant.label_offset
        return labels.astype(np.float32)

    def batch_plan(self, dataset: Dataset, config: Any, batch_size: int) -> BatchPlan:
        from inferlab.loadgen.dispatch import FixedBatch

        facts: dict[str, Any] = {"policy": "fixed", "max_batch": batch_size}
        ignored = [
            k
            for k, default in (("padding", "batch"), ("max_batch_tokens", None))
            if getattr(config, k, default) != default
        ]
        if ignored:  # fixed-size images: nothing to pad or budget
            log.warning("resnet50 ignores %s (variable-length inputs only)", ", ".join(ignored))
            facts["ignored"] = ignored
        return BatchPlan(FixedBatch(batch_size), facts=facts)

    def evaluate(
        self, accuracy_log: Path, dataset: Dataset, variant: Variant, run_dir: Path
    ) -> Evaluation:
        from inferlab.metrics.top1 import top1_from_log

        labels = dataset.labels()  # type: ignore[attr-defined]
        res = top1_from_log(accuracy_log, labels, dtype=variant.output_dtype)
        return Evaluation(
            values=(MetricValue(metric="acc", value=res.accuracy, unit="%"),),
            accuracy_txt=res.line() + "\n",
            details={"good": res.good, "total": res.total, "duplicates": res.duplicates},
        )


SPEC = BenchmarkSpec(
    id="resnet50",
    loadgen_name="resnet50",
    checker_name="resnet",
    description="ResNet50-v1.5 image classification, ImageNet 2012 validation (50,000 images)",
    task="inferlab.benchmarks.resnet50:TASK",
    dataset_id=DATASET_ID,
    dataset_size=50_000,
    performance_sample_count=1024,
    scenarios=(Scenario.SINGLE_STREAM, Scenario.MULTI_STREAM, Scenario.OFFLINE, Scenario.SERVER),
    variants=(PYTORCH, TINY, ONNX),
    metrics=("top1",),
    targets=targets_by_round("resnet"),
    server_latency_ms=15.0,
    default_batch=32,
    # bf16 eager peaked at batch 256 on an H100 (issue 4's measurements); Server keeps a batch's
    # compute well inside the 15 ms bound; the other two take exactly their query size.
    gpu_batch={
        Scenario.OFFLINE: 256,
        Scenario.SERVER: 64,
        Scenario.MULTI_STREAM: 8,
        Scenario.SINGLE_STREAM: 1,
    },
    synthetic_count=1024,
    quick={
        Scenario.OFFLINE: QuickSettings(min_query_count=256, min_duration_ms=2000),
        Scenario.SINGLE_STREAM: QuickSettings(min_query_count=64, min_duration_ms=1000),
        Scenario.MULTI_STREAM: QuickSettings(min_query_count=662, min_duration_ms=1000),
        Scenario.SERVER: QuickSettings(min_query_count=662, min_duration_ms=1000),
    },
    aliases=("resnet", "resnet-50", "resnet50-v1.5"),
)

TASK = ResNet50Task()
