"""The resnet50 task: the hooks the runner calls (torch-free at import; the network is built in
:mod:`inferlab.benchmarks.resnet50.model`, imported lazily). Facts: rules file §3
(accuracy-imagenet.py), §4 (preprocessing).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from inferlab.benchmarks.resnet50.spec import (
    CAL_LIST,
    DATASET_ID,
    MODEL_ID,
    ONNX,
    SPEC,
    TINY,
    TINY_ARCH,
)
from inferlab.core.dataset import Dataset
from inferlab.core.errors import DataError, ModelError
from inferlab.core.spec import (
    Variant,
)
from inferlab.core.task import (
    BatchPlan,
    BenchmarkTask,
    Evaluation,
    MetricValue,
    ModelFacts,
    find_dataset,
)

log = logging.getLogger(__name__)


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


class ResNet50Task(BenchmarkTask):
    """Hooks the runner calls for resnet50."""

    image_inputs = True  # NCHW images: channels-last pays off on a GPU
    model_id = MODEL_ID

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
        preprocess_threads: int | None = None,
    ) -> Dataset:
        if path is None:
            from inferlab.benchmarks.resnet50.synthetic import SyntheticImageNet

            n = count or synthetic_count or SPEC.synthetic_count
            return SyntheticImageNet(count=n, seed=seed, transform=_transform(variant))
        from inferlab.benchmarks.resnet50.dataset import ImageNetDataset
        from inferlab.benchmarks.resnet50.preprocess import get_transform
        from inferlab.preprocessing.cache import Cache

        tf = get_transform(_transform(variant))
        owner = f"{SPEC.id}'s {variant.name} variant"
        ds = ImageNetDataset(
            path,
            count=count,
            decoder=decoder,  # "default": the transform's own (cv2 for the mean-only one)
            cache=None,
            transform=tf.name,
            decoder_owner=owner,
            workers=preprocess_threads,  # None: the CPUs this process may use, at most 16
        )
        if tf.default_decoder == "cv2" and ds.decoder != "cv2":
            log.warning(
                "%s's reference preprocessing decodes and resizes with OpenCV; this run uses %s "
                "(--set decoder=%s), which only approximates it (not bit-identical; accuracy can "
                "differ slightly)",
                owner,
                ds.decoder,
                decoder,
            )
        if cache_dir is not None:
            ds.cache = Cache(cache_dir, ds.transform_key)
        return ds

    def onnx_io(self, variant: Variant) -> Any:
        return ResNetOnnxIO()

    def build_model(
        self, variant: Variant, model_path: Path | None, *, seed: int
    ) -> tuple[Any, ModelFacts]:
        import torch

        from inferlab.benchmarks.resnet50.model import build_resnet50, load_state_dict_file

        torch.manual_seed(seed)
        if variant.name == TINY.name:  # random-init: prepare() refuses a --model-path for it
            tiny = build_resnet50(num_classes=variant.num_classes or 1000, **TINY_ARCH)
            return tiny, ModelFacts(random_weights=True, extra={"init_seed": seed, **TINY_ARCH})
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
            from inferlab.benchmarks.resnet50.dataset import map_in_order

            tf = dataset.transform

            def crop(name: str) -> np.ndarray:
                data = (dataset.path / name).read_bytes()
                return tf.crop_from_bytes(data, decoder=dataset.decoder, name=name)

            crops = map_in_order(crop, names, getattr(dataset, "workers", 1))
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

    def scoring_files(self, dataset: Dataset, run_dir: Path) -> dict[str, str]:
        """Synthetic data: the seeded val_map.txt accuracy-imagenet.py reads."""
        if not dataset.synthetic:
            return {}
        ds: Any = dataset
        return ds.write_scoring_files(run_dir)  # type: ignore[no-any-return]

    def null_output_shape(self, variant: Variant) -> tuple[int, ...]:
        return (variant.num_classes or 1000,)

    def postprocess(
        self, outputs: np.ndarray, variant: Variant, indices: np.ndarray, dataset: Dataset
    ) -> np.ndarray:
        labels = np.argmax(outputs, axis=1) + variant.label_offset
        return labels.astype(np.float32)

    def batch_plan(self, dataset: Dataset, config: Any, batch_size: int) -> BatchPlan:
        facts: dict[str, Any] = {"policy": "fixed", "max_batch": batch_size}
        ignored = [
            k
            for k, default in (("padding", "batch"), ("max_batch_tokens", None))
            if getattr(config, k, default) != default
        ]
        if ignored:  # fixed-size images: nothing to pad or budget
            log.warning("resnet50 ignores %s (variable-length inputs only)", ", ".join(ignored))
            facts["ignored"] = ignored
        return BatchPlan(facts=facts)

    def evaluate(
        self, accuracy_log: Path, dataset: Dataset, variant: Variant, run_dir: Path
    ) -> Evaluation:
        from inferlab.benchmarks.resnet50.accuracy import top1_from_log

        labels = dataset.labels()  # type: ignore[attr-defined]
        res = top1_from_log(accuracy_log, labels, dtype=variant.output_dtype)
        return Evaluation(
            values=(MetricValue(metric="acc", value=res.accuracy, unit="%"),),
            accuracy_txt=res.line() + "\n",
            details={"good": res.good, "total": res.total, "duplicates": res.duplicates},
        )


TASK = ResNet50Task()
