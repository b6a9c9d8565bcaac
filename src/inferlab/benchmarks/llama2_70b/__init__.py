"""llama2_70b: MLPerf Inference llama2-70b-99 and llama2-70b-99.9, Llama-2-70B-chat on OpenOrca.

So far only its data sources live here: sources.py (what `inferlab prepare` fetches).
"""
