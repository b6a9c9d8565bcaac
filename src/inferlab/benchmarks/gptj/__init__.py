"""gptj: MLPerf Inference gptj-99 and gptj-99.9, GPT-J 6B summarisation on CNN/DailyMail
(rounds v4.1 and v5.0; retired after v5.0).

spec.py (the two specs, torch-free), task.py (the hooks), dataset.py (the reference's
cnn_eval.json or generated articles, the Alpaca prompt, 1,919-token truncation), model.py (the
checkpoint, or a tiny random GPT-J), sources.py (what `inferlab prepare` fetches). Generation
runs on the shared engine (beam search, 4 beams); docs/gptj.md.
"""
