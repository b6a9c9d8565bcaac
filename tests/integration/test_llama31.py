"""Issue 17: llama3.1-8b through the CLI on its embedded default (generated articles, the
packaged Llama 3.1 tokenizer, a tiny random Llama on the generation engine).

- the tokens LoadGen logged equal ``transformers``' ``generate`` (greedy, 1..128 new tokens, the
  model's EOS ids) on the same prompts with the same tiny model: the engine, the continuous
  batching SUT and the payloads are the reference's decoding;
- accuracy.txt is evaluation.py's output, and the generated dataset file it needs is written;
- in Server the first token is streamed ahead and the final response carries every token with
  its count (what TEST06 checks: the logged first token equals the start of the response).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from inferlab.loadgen.accuracy_log import iter_entries
from tests.integration.helpers import cli

pytest.importorskip("llama_models", reason="the Llama 3.1 tokenizer comes from llama-models")


def _run(tmp_path: Path, *args: str) -> dict:  # type: ignore[type-arg]
    out = tmp_path / "runs"
    proc = cli(
        "run", "llama3.1-8b", *args, "--out", str(out), "--json",
        env={"INFERLAB_CACHE_DIR": str(tmp_path / "cache")},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc: dict = json.loads(proc.stdout)  # type: ignore[type-arg]
    return doc


def test_offline_accuracy_tokens_equal_transformers_generate(tmp_path: Path) -> None:
    import torch

    from inferlab.benchmarks.llama3_1_8b.model import EOS_TOKEN_IDS, build

    res = _run(tmp_path, "--mode", "accuracy", "--count", "8", "--no-calibrate")
    assert res["status"] == "ok" and res["flags"]["synthetic"] and res["flags"]["random_weights"]
    assert res["backend"]["engine"].startswith("inferlab generation engine")
    run_dir = Path(res["run_dir"])
    records = json.loads((run_dir / "cnn_eval.json").read_text())  # what evaluation.py reads
    assert len(records) == 8 and set(records[0]) >= {"input", "tok_input", "output"}
    assert records[0]["tok_input"][0] == 128000  # <|begin_of_text|>, as the reference encodes
    logged = {
        e.qsl_idx: np.frombuffer(bytes.fromhex(e.data), np.int32).tolist()
        for e in iter_entries(run_dir / "mlperf_log_accuracy.json")
    }
    assert sorted(logged) == list(range(8))
    model, _ = build(None, seed=0)  # the run's tiny model: --seed 0
    for i in (0, 7):
        prompt = torch.tensor([records[i]["tok_input"]])
        out = model.generate(
            prompt,
            max_new_tokens=128,
            min_new_tokens=1,
            do_sample=False,
            eos_token_id=list(EOS_TOKEN_IDS),
            pad_token_id=0,
        )
        assert logged[i] == out[0, prompt.shape[1] :].tolist(), i
    text = (run_dir / "accuracy.txt").read_text()
    assert text.startswith("\nResults\n\n{'rouge1': '")
    printed = ast.literal_eval(text.strip().splitlines()[-1])
    assert printed["gen_num"] == 8 and isinstance(printed["gen_len"], int)
    metrics = {m["metric"]: m["value"] for m in res["accuracy"]["metrics"]}
    assert (
        metrics["ROUGE1"] == float(printed["rouge1"]) and metrics["GEN_LEN"] == printed["gen_len"]
    )
    assert res["accuracy"]["status"] == "n/a-synthetic"


@pytest.mark.parametrize("scenario", ["Server", "Interactive"])
def test_server_streams_the_first_token_and_completes_every_token(
    tmp_path: Path, scenario: str
) -> None:
    res = _run(
        tmp_path,
        "--scenario", scenario, "--mode", "accuracy", "--count", "6", "--no-calibrate",
        "--set", "loadgen.target_qps=4",
    )  # fmt: skip
    assert res["status"] == "ok", res["error"]
    assert res["scenario"] == scenario
    run_dir = Path(res["run_dir"])
    assert scenario in run_dir.name
    # Interactive is LoadGen's Server under the -interactive keys: mlperf.conf's 500/30 ms
    key = "llama3_1-8b-interactive" if scenario == "Interactive" else "llama3_1-8b"
    assert f"{key}.Server.target_qps = 4" in (run_dir / "user.conf").read_text()
    detail = (run_dir / "mlperf_log_detail.txt").read_text()
    ttft, tpot = (500, 30) if scenario == "Interactive" else (2000, 100)
    assert f'"requested_server_ttft_latency", "value": {ttft * 1_000_000}' in detail
    assert f'"requested_server_tpot_latency", "value": {tpot * 1_000_000}' in detail
    assert '"effective_scenario", "value": "Server"' in detail
    entries = list(iter_entries(run_dir / "mlperf_log_accuracy.json"))
    assert len(entries) == 6
    for e in entries:
        tokens = np.frombuffer(bytes.fromhex(e.data), np.int32)
        assert e.token_count == tokens.size >= 1
        assert e.token_data is not None  # the first token LoadGen received ahead (TTFT)
        first = np.frombuffer(bytes.fromhex(e.token_data), np.int32)
        assert first.tolist() == tokens[:1].tolist()


def test_interactive_under_other_bounds_is_not_an_interactive_result(tmp_path: Path) -> None:
    """An Interactive run LoadGen ran with other TTFT/TPOT than the round's 500/30 ms (here a
    --set; an older LoadGen without the -interactive keys alike) fails, naming both."""
    out = tmp_path / "runs"
    proc = cli(
        "run", "llama3.1-8b", "--scenario", "Interactive", "--mode", "accuracy",
        "--count", "2", "--no-calibrate", "--set", "loadgen.target_qps=4",
        "--set", "loadgen.ttft_latency=2000", "--out", str(out), "--json",
        env={"INFERLAB_CACHE_DIR": str(tmp_path / "cache")},
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    res = json.loads(proc.stdout)
    assert res["status"] == "failed" and res["error"]["kind"] == "interactive-bounds"
    assert "TTFT 2000 / TPOT 30 ms, not the round's 500 / 30 ms" in res["error"]["message"]
