"""mixtral: MLPerf Inference mixtral-8x7b, Mixtral-8x7B-Instruct on OpenOrca + GSM8K + MBXP
(in the rounds up to v6.0).

So far only its data sources live here: sources.py (what `inferlab prepare` fetches).
"""
