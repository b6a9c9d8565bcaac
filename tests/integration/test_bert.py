"""bert-99 / bert-99.9 end to end through the real LoadGen: synthetic default (tiny random BERT),
a hand-made SQuAD-format dataset on disk, a checkpoint with its bert_config.json, both padding
paths, the Server measurement label, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inferlab.loadgen.accuracy_log import decode_hex, iter_entries
from tests.integration.helpers import cli, run_cfg

torch = pytest.importorskip("torch")

FAST = ["loadgen.min_duration=0", "loadgen.min_query_count=48"]

VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "?", "the", "a", "of", "in", "was",
    "is", "what", "who", "when", "where", "river", "city", "built", "bridge", "old", "new",
    "stone", "king", "year", "called", "over", "by", "##s", "##ed", "north", "south", "1850",
    "museum", "opened", "people", "live", "there", "many", "large",
]  # fmt: skip


def write_squad_dir(root: Path, long_context: bool = True) -> Path:
    """A small SQuAD v1.1-format dev set plus vocab, as a user would lay it out."""
    short = "The old stone bridge over the river was built by the king in 1850."
    long = " ".join(
        ["Many people live in the new city north of the river."] * 45
        + ["The museum opened in 1850 in the old city."]
    )
    paragraphs = [
        {
            "context": short,
            "qas": [
                {"id": "q1", "question": "Who built the bridge?",
                 "answers": [{"text": "the king", "answer_start": short.index("the king")}]},
                {"id": "q2", "question": "When was the bridge built?",
                 "answers": [{"text": "1850", "answer_start": short.index("1850")}]},
            ],
        }
    ]  # fmt: skip
    if long_context:
        paragraphs.append(
            {
                "context": long,
                "qas": [
                    {"id": "q3", "question": "When was the museum opened?",
                     "answers": [{"text": "1850", "answer_start": long.index("1850")}]},
                ],
            }
        )  # fmt: skip
    d = root / "squad-v1.1"
    d.mkdir(parents=True)
    doc = {"version": "1.1", "data": [{"title": "t", "paragraphs": paragraphs}]}
    (d / "dev-v1.1.json").write_text(json.dumps(doc))
    (d / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    return d


def logits_by_index(run_dir: Path) -> dict[int, np.ndarray]:
    return {
        e.qsl_idx: decode_hex(e.data, np.float32).reshape(384, 2)
        for e in iter_entries(run_dir / "mlperf_log_accuracy.json")
    }


def test_synthetic_default_runs_tiny_bert_and_labels_everything(tmp_path: Path) -> None:
    perf = run_cfg(tmp_path, FAST, benchmark="bert-99", count=48, calibrate=False)
    assert perf["status"] == "ok" and perf["result"]["validity"] == "VALID"
    assert perf["benchmark"]["variant"]["name"] == "tiny"
    assert perf["flags"]["synthetic"] and perf["flags"]["random_weights"]
    assert perf["dataset"]["dataset_id"] == "synthetic-squad-v1.1"
    assert perf["dataset"]["total_count"] == 48
    assert perf["batching"]["padding"] == "batch" and perf["batching"]["length_sort"] is True
    acc = run_cfg(tmp_path, [], benchmark="bert-99", count=48, calibrate=False, mode="accuracy")
    run_dir = Path(acc["run_dir"])
    assert acc["accuracy"]["status"] == "n/a-synthetic"
    line = (run_dir / "accuracy.txt").read_text().strip()
    parsed = json.loads(line)
    assert list(parsed) == ["exact_match", "f1"]
    f1 = next(m for m in acc["accuracy"]["metrics"] if m["metric"] == "F1")
    assert f1["value"] == pytest.approx(parsed["f1"])
    # scoring files for the official script, and the predictions it would write
    assert acc["accuracy"]["scoring_files"] == {"dataset": "dev-v1.1.json", "vocab": "vocab.txt"}
    assert (run_dir / "dev-v1.1.json").is_file() and (run_dir / "vocab.txt").is_file()
    preds = json.loads((run_dir / "predictions.json").read_text())
    # the generated set is whole questions (exactly 48 windows): every question is scored
    assert acc["dataset"]["total_count"] == 48 and acc["dataset"]["subset"] is False
    assert len(preds) == acc["accuracy"]["details"]["questions_scored"] > 0
    logits = logits_by_index(run_dir)
    assert sorted(logits) == list(range(48))
    # payload: model logits at real positions, -10000 past each sequence
    lengths = np.array([len(f.tokens) for f in _synthetic_features(48)])
    for i, arr in logits.items():
        assert np.all(arr[lengths[i] :] == -10000.0)
        assert np.all(np.abs(arr[: lengths[i]]) < 100)


def _synthetic_features(count: int) -> list:
    from inferlab.benchmarks.bert.dataset import load_synthetic

    ds = load_synthetic(count=count, seed=0)
    return list(ds.features.features[:count])


def test_padding_paths_agree(tmp_path: Path) -> None:
    """Batch-padded + length-sorted (on two batch threads) vs padded-to-384 in arrival order:
    same logits (to rounding) at real positions, identical predictions."""
    runs = {}
    for padding, sort, threads in (("max", "false", 1), ("batch", "true", 2)):
        sets = [f"padding={padding}", f"length_sort={sort}", f"loop_threads={threads}"]
        r = run_cfg(
            tmp_path, sets, benchmark="bert-99", count=40, calibrate=False, mode="accuracy",
            scenario="Offline", batch_size=16,
        )  # fmt: skip
        runs[padding] = Path(r["run_dir"])
    a, b = logits_by_index(runs["max"]), logits_by_index(runs["batch"])
    assert sorted(a) == sorted(b) == list(range(40))
    for i in a:
        np.testing.assert_allclose(a[i], b[i], rtol=1e-4, atol=1e-4)
    pa = json.loads((runs["max"] / "predictions.json").read_text())
    pb = json.loads((runs["batch"] / "predictions.json").read_text())
    assert pa == pb


def test_token_budget_and_single_stream_and_server_label(tmp_path: Path) -> None:
    r = run_cfg(
        tmp_path, [*FAST, "max_batch_tokens=2048"], benchmark="bert-99", count=48,
        calibrate=False,
    )  # fmt: skip
    assert r["status"] == "ok" and r["batching"]["policy"] == "token-budget"
    ss = run_cfg(
        tmp_path, ["loadgen.min_duration=0", "loadgen.min_query_count=64"], benchmark="bert-99.9",
        count=32, calibrate=False, scenario="SingleStream",
    )  # fmt: skip
    assert ss["status"] == "ok", ss["result"]["invalid_reasons"]
    assert ss["result"]["unit"] == "ms"
    sv = run_cfg(
        tmp_path, ["loadgen.min_duration=0", "loadgen.min_query_count=32",
                   "loadgen.target_qps=20"],
        benchmark="bert-99", count=32, calibrate=False, scenario="Server",
    )  # fmt: skip
    eff = sv["loadgen"]["effective"]
    assert int(eff["effective_target_latency_ns"]) == 130_000_000  # LoadGen's bert bound
    assert any("no Server scenario" in why for why in sv["flags"]["not_submittable_because"])


def test_dataset_on_disk_with_checkpoint_and_config(tmp_path: Path) -> None:
    from inferlab.benchmarks.bert.model import BertConfig, build_bert_qa
    from inferlab.benchmarks.bert.spec import TINY_ARCH

    write_squad_dir(tmp_path / "data")
    model_dir = tmp_path / "data" / "models" / "bert"
    model_dir.mkdir(parents=True)
    config = BertConfig(vocab_size=len(VOCAB), **TINY_ARCH)
    torch.manual_seed(3)
    torch.save(build_bert_qa(config).state_dict(), model_dir / "model.pytorch")
    cfg_json = {
        "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "hidden_size": config.hidden_size, "initializer_range": 0.02,
        "intermediate_size": config.intermediate_size, "max_position_embeddings": 512,
        "num_attention_heads": config.num_attention_heads,
        "num_hidden_layers": config.num_hidden_layers, "type_vocab_size": 2,
        "vocab_size": len(VOCAB),
    }  # fmt: skip
    (model_dir / "bert_config.json").write_text(json.dumps(cfg_json))
    acc = run_cfg(
        tmp_path, [], benchmark="bert-99", data_dir=tmp_path / "data", calibrate=False,
        mode="accuracy",
    )  # fmt: skip
    assert acc["benchmark"]["variant"]["name"] == "pytorch"
    assert acc["model"]["random_weights"] is False
    assert acc["model"]["extra"]["config_source"].endswith("bert_config.json")
    assert acc["dataset"]["synthetic"] is False and acc["dataset"]["questions_in_file"] == 3
    n = acc["dataset"]["total_count"]
    assert n >= 4  # the long context needs several windows
    status = acc["accuracy"]["status"]
    assert status in ("pass", "fail")
    f1 = next(m for m in acc["accuracy"]["metrics"] if m["metric"] == "F1")
    assert f1["threshold"] == pytest.approx(90.874 * 0.99)
    assert f1["passed"] is (f1["value"] >= 90.874 * 0.99)
    assert acc["accuracy"]["details"]["questions_scored"] == 3
    # a 3-question file is not the dev set: the verdict is computed but never submittable
    assert acc["flags"]["submittable"] is False
    assert any("not the benchmark's 10,833" in r for r in acc["flags"]["not_submittable_because"])
    assert "not a reference-accuracy claim" in acc["accuracy"]["note"]


def test_bad_input_names_the_fix(tmp_path: Path) -> None:
    data = write_squad_dir(tmp_path / "data")
    (data / "vocab.txt").unlink()
    proc = cli("run", "bert-99", "--dataset-path", str(data), "--out", str(tmp_path / "runs"))
    assert proc.returncode == 2
    assert "vocab.txt" in proc.stderr and "fix" in proc.stderr.lower()
    proc = cli("run", "bert-99", "--scenario", "MultiStream", "--out", str(tmp_path / "runs"))
    assert proc.returncode == 2 and "SingleStream" in proc.stderr
    ckpt = tmp_path / "model.pytorch"
    ckpt.write_bytes(b"x")
    proc = cli("run", "bert-99", "--variant", "tiny", "--model-path", str(ckpt), "--out",
               str(tmp_path / "runs"))  # fmt: skip
    assert proc.returncode == 2 and "drop --model-path" in proc.stderr
    proc = cli("run", "bert-99", "--backend", "onnxruntime", "--out", str(tmp_path / "runs"))
    assert proc.returncode == 2 and "--model-path to model.onnx" in proc.stderr
    proc = cli("run", "bert-99", "--backend", "onnxruntime", "--dtype", "bf16", "--model-path",
               str(ckpt), "--out", str(tmp_path / "runs"))  # fmt: skip
    assert proc.returncode == 2 and "does not apply to onnxruntime" in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_official_accuracy_script_agrees(tmp_path: Path) -> None:
    """Optional: accuracy-squad.py (with transformers) scores our run's log like we do."""
    root = os.environ.get("INFERLAB_OFFICIAL_INFERENCE")
    if not root:
        pytest.skip("set INFERLAB_OFFICIAL_INFERENCE to a mlcommons/inference checkout")
    pytest.importorskip("transformers")
    src = Path(root) / "language" / "bert"
    names = ("accuracy-squad.py", "create_squad_data.py", "evaluate_v1.1.py", "tokenization.py")
    if not all((src / n).is_file() for n in names):
        pytest.skip(f"needs {', '.join(names)} in {src} (tokenization.py: Google's BERT one)")
    bert_dir = tmp_path / "official"
    bert_dir.mkdir()
    for n in names:  # Google's tokenization.py imports tensorflow only for file reading
        text = (src / n).read_text()
        keep = [ln for ln in text.splitlines(True) if not ln.startswith("import tensorflow")]
        (bert_dir / n).write_text("".join(keep))
    acc = run_cfg(tmp_path, [], benchmark="bert-99", count=64, calibrate=False, mode="accuracy")
    run_dir = Path(acc["run_dir"])
    proc = subprocess.run(
        [sys.executable, str(bert_dir / "accuracy-squad.py"), "--vocab_file",
         str(run_dir / "vocab.txt"), "--val_data", str(run_dir / "dev-v1.1.json"), "--log_file",
         str(run_dir / "mlperf_log_accuracy.json"), "--out_file", str(tmp_path / "p.json"),
         "--features_cache_file", str(tmp_path / "f.pickle")],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    official = proc.stdout.strip().splitlines()[-1]
    # the run dir's own files reproduce the run's accuracy.txt, and its predictions.json
    assert official == (run_dir / "accuracy.txt").read_text().strip()
    assert (tmp_path / "p.json").read_text() == (run_dir / "predictions.json").read_text()


def test_onnxruntime_backend_gives_the_torch_backend_s_answers(tmp_path: Path) -> None:
    """The same tiny weights as model.pytorch (+ bert_config.json) and as model.onnx: the torch
    and onnxruntime runs log the same logits (to rounding) and predict the same answers."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from tests.unit.test_onnxruntime_backend import TINY, export_tiny

    model_dir = tmp_path / "m"
    model_dir.mkdir()
    model = export_tiny(model_dir / "model.onnx", seed=5)
    torch.save(model.state_dict(), model_dir / "model.pytorch")
    cfg = {k: getattr(TINY, k) for k in (
        "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
        "intermediate_size", "max_position_embeddings", "type_vocab_size",
    )}  # fmt: skip
    cfg.update(hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
               initializer_range=0.02)  # fmt: skip
    (model_dir / "bert_config.json").write_text(json.dumps(cfg))
    runs = {}
    for backend, name in (("torch", "model.pytorch"), ("onnxruntime", "model.onnx")):
        r = run_cfg(
            tmp_path, [], benchmark="bert-99", backend=backend, model_path=model_dir / name,
            count=24, calibrate=False, mode="accuracy",
        )  # fmt: skip
        assert r["status"] == "ok" and r["accuracy"]["status"] == "n/a-synthetic"
        assert r["model"]["random_weights"] is False
        runs[backend] = Path(r["run_dir"])
    assert (
        json.loads((runs["torch"] / "result.json").read_text())["benchmark"]["variant"]["name"]
        == "pytorch"
    )
    assert (
        json.loads((runs["onnxruntime"] / "result.json").read_text())["benchmark"]["variant"][
            "name"
        ]
        == "onnx"
    )
    a, b = logits_by_index(runs["torch"]), logits_by_index(runs["onnxruntime"])
    assert sorted(a) == sorted(b) == list(range(24))
    for i in a:
        np.testing.assert_allclose(a[i], b[i], rtol=1e-4, atol=1e-4)
    pa = json.loads((runs["torch"] / "predictions.json").read_text())
    assert pa == json.loads((runs["onnxruntime"] / "predictions.json").read_text())
