"""The retinanet task: the hooks the runner calls (torch-free at import; the network is built in
:mod:`inferlab.benchmarks.retinanet.model`, imported lazily). Facts: rules file §3
(accuracy-openimages.py), §4 (preprocessing); docs/retinanet.md.

A sample's model output is its [300, 6] detection rows (xmin, ymin, xmax, ymax, score, label;
zero rows after the last); its accuracy-log payload is a variable number of float32 groups of
7 (``postprocess.payload_rows``), so :meth:`RetinaNetTask.postprocess` answers one
:class:`~inferlab.core.task.SampleOutput` per sample.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from inferlab.benchmarks.retinanet.spec import (
    DATASET_ID,
    DETECTIONS_PER_IMAGE,
    MODEL_ID,
    SPEC,
    TINY,
)
from inferlab.core.dataset import Dataset
from inferlab.core.errors import ModelError, UnsupportedError
from inferlab.core.spec import Variant
from inferlab.core.task import (
    BenchmarkTask,
    Evaluation,
    ModelFacts,
    SampleOutput,
    find_dataset,
)

log = logging.getLogger(__name__)

_ONNX_FIX = (
    "use the MLPerf resnext50_32x4d_fpn.onnx (inputs: images [1, 3, 800, 800]; outputs: boxes, "
    "scores, labels)"
)


class RetinaNetOnnxIO:
    """The reference's ONNX export (tools/retinanet_pytorch_to_onnx.py: traced on one
    [1, 3, 800, 800] image, ``output_names=["boxes", "scores", "labels"]``): one image per run;
    its outputs boxes [N, 4], scores [N], labels [N] (int64) -> [1, 300, 6] rows (xmin, ymin,
    xmax, ymax, score, label), zero rows after the N-th, as the torch network returns."""

    def feeds(self, inputs: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
        if len(names) != 1:
            raise ModelError(
                f"the RetinaNet ONNX model should have one input, it has {names}", _ONNX_FIX
            )
        if inputs.shape[0] != 1:
            raise ModelError(
                f"the RetinaNet ONNX model takes one image per run (the reference exported it "
                f"for a fixed [1, 3, 800, 800] input and runs it with max-batchsize 1); this "
                f"run's batches hold {inputs.shape[0]}",
                "pass --batch-size 1",
            )
        return {names[0]: np.ascontiguousarray(inputs, dtype=np.float32)}

    @staticmethod
    def _pick(outputs: list[np.ndarray], names: list[str]) -> tuple[np.ndarray, ...]:
        by_name = {n.split(":")[0].lower(): o for n, o in zip(names, outputs, strict=True)}
        if all(k in by_name for k in ("boxes", "scores", "labels")):
            return by_name["boxes"], by_name["scores"], by_name["labels"]
        # unnamed: boxes are the (N, 4) output, labels the integer one, scores the other
        boxes = [o for o in outputs if o.ndim == 2 and o.shape[-1] == 4]
        flat = [o for o in outputs if o.ndim == 1]
        labels = [o for o in flat if np.issubdtype(o.dtype, np.integer)]
        scores = [o for o in flat if np.issubdtype(o.dtype, np.floating)]
        if len(outputs) == 3 and len(boxes) == len(labels) == len(scores) == 1:
            return boxes[0], scores[0], labels[0]
        raise ModelError(
            f"unexpected ONNX outputs {names} with shapes {[o.shape for o in outputs]} and "
            f"dtypes {[o.dtype.name for o in outputs]}",
            _ONNX_FIX,
        )

    def output(self, outputs: list[np.ndarray], names: list[str]) -> np.ndarray:
        boxes, scores, labels = self._pick(outputs, names)
        n = int(scores.shape[0])
        if boxes.shape != (n, 4) or labels.shape != (n,):
            raise ModelError(
                f"ONNX outputs disagree on the detection count: boxes {boxes.shape}, scores "
                f"{scores.shape}, labels {labels.shape}",
                _ONNX_FIX,
            )
        if n > DETECTIONS_PER_IMAGE:
            log.warning("the ONNX model returned %d detections; keeping the first 300", n)
            n = DETECTIONS_PER_IMAGE
        out = np.zeros((1, DETECTIONS_PER_IMAGE, 6), dtype=np.float32)
        out[0, :n, :4] = boxes[:n]
        out[0, :n, 4] = scores[:n]
        out[0, :n, 5] = labels[:n]
        return out


class RetinaNetTask(BenchmarkTask):
    """Hooks the runner calls for retinanet."""

    image_inputs = True  # NCHW images: channels-last pays off on a GPU
    model_id = MODEL_ID

    def resolve_dataset_path(self, data_dir: Path | None, dataset_path: Path | None) -> Path | None:
        contents = "annotations/openimages-mlperf.json and validation/data/*.jpg"
        return find_dataset(data_dir, dataset_path, DATASET_ID, contents)

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
        if decoder not in ("default", "cv2"):
            log.warning(
                "retinanet's preprocessing decodes with OpenCV as the reference does; "
                "--set decoder=%s is ignored",
                decoder,
            )
        if path is None:
            from inferlab.benchmarks.retinanet.synthetic import SyntheticOpenImages

            n = count or synthetic_count or SPEC.synthetic_count
            return SyntheticOpenImages(n, seed, cache_dir, workers=preprocess_threads)
        from inferlab.benchmarks.retinanet.dataset import OpenImagesDataset

        # No on-disk cache of the preprocessed inputs: 7.7 MB an image (190 GB for the set),
        # for a decode + resize that costs about as much as reading the cached file.
        return OpenImagesDataset(path, count=count, workers=preprocess_threads)

    def scoring_files(self, dataset: Dataset, run_dir: Path) -> dict[str, str]:
        """Synthetic data: the generated annotations, at annotations/openimages-mlperf.json, so
        ``accuracy-openimages.py --openimages-dir <run dir>`` scores the log."""
        write = getattr(dataset, "write_scoring_files", None)
        if not dataset.synthetic or write is None:
            return {}
        return write(run_dir)  # type: ignore[no-any-return]

    def calibration_set(
        self, dataset: Dataset, data_dir: Path | None, batch_size: int
    ) -> tuple[list[np.ndarray], dict[str, Any]]:
        raise UnsupportedError(
            "retinanet has no 8-bit path: MLPerf's calibration images (500 OpenImages *train* "
            "images, calibration/openimages/openimages_cal_images_list.txt) are not fetched by "
            "inferlab, and the network's detection step (top-k, NMS) is not quantizable as is",
            "use --dtype fp32, bf16 or fp16",
        )

    def onnx_io(self, variant: Variant) -> Any:
        return RetinaNetOnnxIO()

    def build_model(
        self, variant: Variant, model_path: Path | None, *, seed: int
    ) -> tuple[Any, ModelFacts]:
        from inferlab.benchmarks.retinanet import model as rn

        if variant.name == TINY.name:  # random-init: prepare() refuses a --model-path for it
            tiny = rn.build_retinanet(rn.TINY_SYNTHETIC, seed=seed)
            return tiny, ModelFacts(
                random_weights=True, extra={"init_seed": seed, "config": "model.TINY_SYNTHETIC"}
            )
        if model_path is None:
            net = rn.build_retinanet(rn.RETINANET_800, seed=seed)
            return net, ModelFacts(random_weights=True, extra={"init_seed": seed})
        net = rn.build_retinanet(rn.RETINANET_800, seed=None)  # every tensor comes from the file
        facts = rn.load_state_dict_file(net, model_path)
        return net, ModelFacts(
            random_weights=False,
            path=str(model_path),
            sha256=facts.get("sha256"),
            size_bytes=facts.get("size_bytes"),
            extra={"format": facts.get("format"), "n_tensors": facts.get("n_tensors")},
        )

    def null_output_shape(self, variant: Variant) -> tuple[int, ...]:
        return (DETECTIONS_PER_IMAGE, 6)

    def postprocess(
        self, outputs: np.ndarray, variant: Variant, indices: np.ndarray, dataset: Dataset
    ) -> list[SampleOutput]:
        from inferlab.benchmarks.retinanet.postprocess import payload_rows

        dets = np.asarray(outputs, dtype=np.float32).reshape(len(indices), -1, 6)
        return [
            SampleOutput.of(payload_rows(int(i), dets[k])) for k, i in enumerate(indices.tolist())
        ]

    def evaluate(
        self, accuracy_log: Path, dataset: Dataset, variant: Variant, run_dir: Path
    ) -> Evaluation:
        from inferlab.benchmarks.retinanet.accuracy import evaluation, openimages_map_from_log

        ds: Any = dataset
        result = openimages_map_from_log(accuracy_log, ds.annotation_file)
        ev = evaluation(result, synthetic=bool(dataset.synthetic))
        # "total": the distinct samples the log covers (result.json's log coverage)
        return replace(ev, details={**ev.details, "total": result.images})


TASK = RetinaNetTask()
