"""unet3d: MLPerf Inference 3d-unet-99 and 3d-unet-99.9, 3D-UNet segmentation on KiTS19.

So far only its data sources live here: sources.py (what `inferlab prepare` fetches).
"""
