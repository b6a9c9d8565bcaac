"""bert-99 / bert-99.9: BERT-Large on SQuAD v1.1 dev, everything specific to it.

spec.py (torch-free BenchmarkSpecs and variants), task.py (the hooks), dataset.py and
synthetic.py (the QSL), preprocess.py, features.py and features_cache.py (WordPiece features as
the reference builds them), model.py (the network, torch), accuracy.py, squad_text.py and
logits.py (accuracy-squad.py's logic), sources.py (what `inferlab prepare` fetches).
"""
