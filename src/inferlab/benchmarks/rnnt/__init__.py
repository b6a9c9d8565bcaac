"""rnnt: MLPerf Inference RNN-T speech recognition on LibriSpeech dev-clean (retired after v4.0).

So far only its data sources live here: sources.py (what `inferlab prepare` fetches).
"""
