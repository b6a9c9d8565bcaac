"""resnet50: ResNet50-v1.5 on ImageNet 2012 validation, everything specific to it.

spec.py (torch-free BenchmarkSpec and variants), task.py (the hooks), dataset.py and synthetic.py
(the QSL), preprocess.py (decode, resize, crop, normalise), model.py (the network, torch),
accuracy.py (accuracy-imagenet.py's logic), sources.py (what `inferlab prepare` fetches) and
imagenet_import.py (``prepare --from``: importing a copy of the validation set).
"""
