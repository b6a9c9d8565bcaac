"""RetinaNet 800x800 (ResNeXt50-32x4d FPN) on the MLPerf OpenImages subset (MLPerf `retinanet`,
checker `retinanet`): the spec. Torch-free.

Facts: rules file §1.3 (mlperf.conf `retinanet`: performance sample count 64, Server target
latency 100 ms, MultiStream latency hint 528 ms), §2.1 (mAP >= 99 % of 37.55, in
``core.rounds``), §2.4 (datacenter Server and Offline, edge SingleStream, MultiStream and
Offline, up to v5.1; v6.0 lists it only in the "datacenter,edge" table), §4 (the preprocessing:
docs/retinanet-data.md) and §7 (24,781 images).

Retired: retinanet's last round is v6.0 (YOLO replaced it). Under a LoadGen of a later round
(6.0.17 serves v6.1) it runs like any benchmark that round lacks: a measurement, flagged
"round v6.1 has no retinanet benchmark" (not submittable), left out of suites; its accuracy is
judged against the newest target it has. LoadGen 6.0.17's built-in mlperf.conf still holds its
keys.
"""

from __future__ import annotations

from inferlab.core.rounds import targets_by_round
from inferlab.core.spec import BenchmarkSpec, QuickSettings, Scenario, Variant

DATASET_ID = "openimages-v6-mlperf"  # <data-dir>/openimages-v6-mlperf/ (sources.py)
MODEL_ID = "retinanet"  # <data-dir>/models/retinanet/ (sources.py)
REFERENCE_MAP = 37.55
PREPROCESSING = "openimages-retinanet-800"  # preprocessing.py: cv2 resize 800x800, /255, NCHW
DETECTIONS_PER_IMAGE = 300  # the network's output rows per image (postprocess.py)

_LAYOUT = (
    "float32 groups of 7 per detection: [qsl_idx, ymin, xmin, ymax, xmax, score, label], "
    "coordinates divided by the 800x800 input size, label the category id 0..263; detections up "
    "to the first score < 0.05; no detection: an empty payload (accuracy-openimages.py)"
)

# The reference's weights (zenodo 6617981; a TorchScript archive, read as its state dict) or the
# training checkpoint retinanet_model_10.pth: model.load_state_dict_file takes both.
PYTORCH = Variant(
    name="pytorch",
    fmt="torch-state-dict",
    preprocessing=PREPROCESSING,
    num_classes=264,
    label_offset=0,
    output_dtype="float32",
    output_layout=_LAYOUT,
    checkpoint_name="resnext50_32x4d_fpn.pth",
    expected_accuracy=REFERENCE_MAP,
    backends=("torch", "null"),
)

# The same network at a fraction of its width and depth (model.TINY: 8 classes), random
# weights: the synthetic default (pipeline checks, fast tests). Never an accuracy claim.
TINY = Variant(
    name="tiny",
    fmt="random-init",
    preprocessing=PREPROCESSING,
    num_classes=8,
    label_offset=0,
    output_dtype="float32",
    output_layout=_LAYOUT,
    backends=("torch",),
)

# The reference's ONNX export (zenodo 6617879, tools/retinanet_pytorch_to_onnx.py): the whole
# torchvision-style model traced on one [1, 3, 800, 800] image (no dynamic axes, so one image
# per run: the reference's onnxruntime profile sets max-batchsize 1), the normalisation and the
# detection step inside; outputs boxes [N, 4] (xmin, ymin, xmax, ymax in input pixels),
# scores [N], labels [N] (int64), N <= 300. Runs on onnxruntime (task.RetinaNetOnnxIO).
ONNX = Variant(
    name="onnx",
    fmt="onnx",
    preprocessing=PREPROCESSING,
    num_classes=264,
    label_offset=0,
    output_dtype="float32",
    output_layout=_LAYOUT,
    checkpoint_name="resnext50_32x4d_fpn.onnx",
    expected_accuracy=37.57,
    backends=("onnxruntime",),
)

# Quick runs: the fewest queries LoadGen's early stopping passes with (SingleStream's 90th
# percentile: 64; MultiStream's and Server's 99th: 662). On a CPU the tiny network at 800x800
# costs 50-75 ms an image, so MultiStream (662 x 8 images) takes minutes (docs/retinanet.md).
QUICK = {
    Scenario.OFFLINE: QuickSettings(min_query_count=256, min_duration_ms=2000),
    Scenario.SINGLE_STREAM: QuickSettings(min_query_count=64, min_duration_ms=1000),
    Scenario.MULTI_STREAM: QuickSettings(min_query_count=662, min_duration_ms=1000),
    Scenario.SERVER: QuickSettings(min_query_count=662, min_duration_ms=1000),
}

SPEC = BenchmarkSpec(
    id="retinanet",
    loadgen_name="retinanet",
    checker_name="retinanet",
    description=(
        "RetinaNet 800x800 (ResNeXt50-32x4d FPN) object detection, MLPerf OpenImages v6 subset "
        f"(24,781 images, 264 classes), mAP >= 99 % of {REFERENCE_MAP}; retired after v6.0: a "
        "measurement under a later round's LoadGen"
    ),
    task="inferlab.benchmarks.retinanet.task:TASK",
    dataset_id=DATASET_ID,
    dataset_size=24_781,
    performance_sample_count=64,
    scenarios=(Scenario.SINGLE_STREAM, Scenario.MULTI_STREAM, Scenario.OFFLINE, Scenario.SERVER),
    variants=(PYTORCH, TINY, ONNX),
    metrics=("mAP",),
    targets=targets_by_round("retinanet"),
    server_latency_ms=100.0,
    # CPU: 8 images of 800x800 (7.7 MB each as float32) a batch; a larger batch gains little
    # on a CPU and a Server batch must stay inside the 100 ms bound.
    default_batch=8,
    # CUDA: not measured yet (benchmarks/gpu_session.sh retinanet); Server keeps a batch's
    # compute inside the 100 ms bound, the other two take exactly their query size.
    gpu_batch={
        Scenario.OFFLINE: 32,
        Scenario.SERVER: 8,
        Scenario.MULTI_STREAM: 8,
        Scenario.SINGLE_STREAM: 1,
    },
    # an accuracy run over the generated set stays well under a minute on two CPU cores
    synthetic_count=256,
    quick=dict(QUICK),
    aliases=("retinanet-800", "retinanet-resnext50"),  # as sources.py names it
    synthetic_variant=TINY.name,
)
