"""gptj-99 through the CLI on its embedded default (generated articles, the packaged GPT-2
tokenizer, a tiny random GPT-J on the generation engine), through the real LoadGen:

- accuracy: the ids LoadGen logged (int64, as the reference's torch ids) equal ``transformers``'
  ``generate`` with the reference's gen_kwargs (4 beams, early stopping, 30..128 new tokens) on
  the same prompts and the same tiny model; accuracy.txt is evaluation.py's output and the
  generated cnn_eval.json it needs is written;
- performance (--quick, Offline): VALID, the official figure is LoadGen's inferred tokens/s
  (samples/s x 69), and the run says it is not submittable under a round without gptj.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from inferlab.loadgen.accuracy_log import iter_entries
from tests.integration.helpers import cli, detail_errors

pytest.importorskip("rouge_score")


def _run(tmp_path: Path, *args: str) -> dict:  # type: ignore[type-arg]
    out = tmp_path / "runs"
    proc = cli(
        "run", "gptj-99", *args, "--out", str(out), "--json",
        env={"INFERLAB_CACHE_DIR": str(tmp_path / "cache")},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc: dict = json.loads(proc.stdout)  # type: ignore[type-arg]
    return doc


def _not_in_round(res: dict) -> None:  # type: ignore[type-arg]
    reasons = res["flags"]["not_submittable_because"]
    if res["round"] not in ("v4.1", "v5.0"):  # a LoadGen of a round after gptj's last
        assert f"round {res['round']} has no gptj-99 benchmark" in reasons


def test_offline_accuracy_ids_equal_transformers_beam_search(tmp_path: Path) -> None:
    import torch

    from inferlab.benchmarks.gptj.model import build

    res = _run(tmp_path, "--mode", "accuracy", "--count", "8", "--no-calibrate")
    assert res["status"] == "ok" and res["flags"]["synthetic"] and res["flags"]["random_weights"]
    assert res["backend"]["decoding"] == "beam search (4 beams)"
    _not_in_round(res)
    run_dir = Path(res["run_dir"])
    records = json.loads((run_dir / "cnn_eval.json").read_text())  # what evaluation.py reads
    assert len(records) == 8 and set(records[0]) == {"instruction", "input", "output"}
    entries = list(iter_entries(run_dir / "mlperf_log_accuracy.json"))
    logged = {e.qsl_idx: np.frombuffer(bytes.fromhex(e.data), np.int64).tolist() for e in entries}
    assert sorted(logged) == list(range(8))
    assert all(31 <= len(ids) <= 128 for ids in logged.values())

    from inferlab.benchmarks.gptj.dataset import prompt_text
    from inferlab.generation.tokenizers import load_tokenizer

    tok = load_tokenizer("gpt2")
    model, _ = build(None, seed=0)  # the run's tiny model: --seed 0
    for i in (0, 5):
        prompt = torch.tensor([tok(prompt_text(records[i]))["input_ids"][:1919]])
        out = model.generate(
            prompt,
            num_beams=4,
            early_stopping=True,
            min_new_tokens=30,
            max_new_tokens=128,
            do_sample=False,
            eos_token_id=50256,
            pad_token_id=50256,
        )
        assert logged[i] == out[0, prompt.shape[1] :].tolist(), i

    text = (run_dir / "accuracy.txt").read_text()
    assert text.startswith("\nResults\n\n{'rouge1': '")
    printed = ast.literal_eval(text.strip().splitlines()[-1])
    assert printed["gen_num"] == 8 and isinstance(printed["gen_len"], int)
    metrics = {m["metric"]: m["value"] for m in res["accuracy"]["metrics"]}
    assert metrics["ROUGE1"] == float(printed["rouge1"])
    assert metrics["GEN_LEN"] == printed["gen_len"]
    assert res["accuracy"]["status"] == "n/a-synthetic"
    assert res["accuracy"]["payload"]["dtype"] == "int64"


def test_quick_offline_performance_reports_inferred_tokens(tmp_path: Path) -> None:
    res = _run(tmp_path, "--quick", "--count", "8", "--no-calibrate")
    assert res["status"] == "ok", res["error"]
    result = res["result"]
    assert result["validity"] == "VALID"
    assert result["official_field"] == "result_inferred_tokens_per_second"
    lg = res["loadgen"]["results"]
    assert lg["result_inferred_tokens_per_second"] == pytest.approx(
        69 * lg["result_samples_per_second"], rel=1e-3
    )
    assert result["value"] == pytest.approx(lg["result_inferred_tokens_per_second"])
    assert res["flags"]["quick"] and not res["flags"]["submittable"]
    _not_in_round(res)
    assert detail_errors(Path(res["run_dir"])) == []
