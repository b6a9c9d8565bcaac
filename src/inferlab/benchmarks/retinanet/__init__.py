"""retinanet: MLPerf Inference RetinaNet 800x800 (ResNeXt50-32x4d FPN) on the MLPerf OpenImages
subset (in the rounds up to v6.0).

So far only its data sources live here: sources.py (what `inferlab prepare` fetches).
"""
