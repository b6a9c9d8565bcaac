"""gptj: MLPerf Inference gptj-99 and gptj-99.9, GPT-J 6B summarisation on CNN/DailyMail
(retired after v5.0).

So far only its data sources live here: sources.py (what `inferlab prepare` fetches).
"""
