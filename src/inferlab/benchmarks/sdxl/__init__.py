"""sdxl: MLPerf Inference stable-diffusion-xl, Stable Diffusion XL 1.0 base text-to-image on
COCO 2014 captions.

So far only its data sources live here: sources.py (what `inferlab prepare` fetches).
"""
