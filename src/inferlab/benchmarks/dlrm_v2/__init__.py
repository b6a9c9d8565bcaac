"""dlrm_v2: MLPerf Inference dlrm-v2-99 and dlrm-v2-99.9, DLRM-v2 (DCNv2) on multi-hot Criteo
1 TB (retired after v5.1).

So far only its data sources live here: sources.py (what `inferlab prepare` fetches).
"""
