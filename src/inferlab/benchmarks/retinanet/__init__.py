"""retinanet: MLPerf Inference RetinaNet 800x800 (ResNeXt50-32x4d FPN) on the MLPerf OpenImages
subset (in the rounds up to v6.0), everything specific to it (docs/retinanet.md).

spec.py (torch-free BenchmarkSpec and variants: pytorch, tiny, onnx), task.py (the hooks; the
ONNX adapter), dataset.py (the OpenImages QSL and the synthetic set's generator), synthetic.py
(the generated default in the cache folder), preprocessing.py (cv2 resize to 800x800, /255,
NCHW), model.py (the network, torch) and postprocess.py (anchors, decoding, NMS, accuracy-log
rows), accuracy.py (accuracy-openimages.py's mAP, through ``inferlab.metrics.detection``) and
sources.py (what `inferlab prepare` fetches).
"""
