"""ssd: MLPerf Inference ssd-mobilenet (SSD-MobileNet-v1, 300x300) and ssd-resnet34
(SSD-ResNet34, 1200x1200) on COCO 2017 val, both retired after round v2.0.

So far only their data sources live here: sources.py (what `inferlab prepare` fetches).
"""
