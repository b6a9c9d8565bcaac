"""Reading accuracy values out of ``accuracy.txt`` as the submission checker does (rules §2.2).

Each metric has a regular expression applied with ``re.match`` to every line; the first match
wins and group 1 is the value. The v4.1 checker's expressions were stricter for a few metrics
(``acc``, ``mAP``, ROUGE without quotes); from v5.0/v5.1 on they accept more forms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_NEW: dict[str, str] = {
    "acc": r"^(?:\{\"accuracy|accuracy)[\": ]*=?\s*([\d\.]+).*",
    "AUC": r"^AUC=([\d\.]+).*",
    "mAP": r".*(?:mAP=|'Total':)\s*([\d.]+)",
    "F1": r"^{[\"\']exact_match[\"\']\:\s*[\d\.]+,\s*[\"\']f1[\"\']\:\s*([\d\.]+)}",
    "WER": r"Word Error Rate\:.*, accuracy=([0-9\.]+)%",
    "ACCURACY": r"Word Error Rate\:.*, accuracy=([0-9\.]+)%",
    "DICE": r"Accuracy\:\s*mean\s*=\s*([\d\.]+).*",
    "ROUGE1": r".*'rouge1':\s+'?([\d.]+)'?.*",
    "ROUGE2": r".*'rouge2':\s+'?([\d.]+)'?.*",
    "ROUGEL": r".*'rougeL':\s+'?([\d.]+)'?.*",
    "ROUGELSUM": r".*'rougeLsum':\s+'?([\d.]+)'?.*",
    "GEN_LEN": r".*'gen_len':\s([\d.]+).*",
    "TOKENS_PER_SAMPLE": r".*'tokens_per_sample':\s([\d.]+).*",
    "CLIP_SCORE": r".*'CLIP_SCORE':\s+'?([\d.]+).*",
    "FID_SCORE": r".*'FID_SCORE':\s+'?([\d.]+).*",
    "gsm8k_accuracy": r".*'gsm8k':\s([\d.]+).*",
    "mbxp_accuracy": r".*'mbxp':\s([\d.]+).*",
    "exact_match": r".*'exact_match':\s([\d.]+).*",
}
_V41: dict[str, str] = {
    **_NEW,
    "acc": r"^accuracy=([\d\.]+).*",
    "mAP": r"^mAP=([\d\.]+).*",
    "ROUGE1": r".*'rouge1':\s([\d.]+).*",
    "ROUGE2": r".*'rouge2':\s([\d.]+).*",
    "ROUGEL": r".*'rougeL':\s([\d.]+).*",
    "CLIP_SCORE": r".*'CLIP_SCORE':\s([\d.]+).*",
    "FID_SCORE": r".*'FID_SCORE':\s([\d.]+).*",
}


def pattern(metric: str, round_: str | None = None) -> re.Pattern[str] | None:
    table = _V41 if round_ == "v4.1" else _NEW
    text = table.get(metric)
    return re.compile(text) if text else None


def parse_accuracy_txt(
    text: str, metrics: Iterable[str], round_: str | None = None
) -> dict[str, float]:
    """The value of each metric the checker would read from ``text`` (absent when no line
    matches or the number does not parse)."""
    out: dict[str, float] = {}
    lines = text.splitlines()
    for metric in metrics:
        pat = pattern(metric, round_)
        if pat is None:
            continue
        for line in lines:
            m = pat.match(line)
            if m:
                try:
                    out[metric] = float(m.group(1))
                except ValueError:
                    continue
                break
    return out
