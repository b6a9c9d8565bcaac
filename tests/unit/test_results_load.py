"""results.load on a real schema_version 1 run directory, and the typed worker messages and plan
over a real socket pair."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from inferlab.config.run_config import RunConfig
from inferlab.results.load import ResultError, load_run, parse_result, upgrade_v1
from inferlab.results.models import (
    SCHEMA_VERSION,
    Done,
    Heartbeat,
    Ready,
    RunPlan,
    RunResult,
    Start,
    WorkerError,
)
from inferlab.runner.protocol import ProtocolError, supervisor_channel, worker_channel

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "results" / "v1"
(V1_RUN,) = [p.parent for p in V1.rglob("result.json")]


def _same_where_both_have(old: Any, new: Any, path: str = "") -> list[str]:
    """Keys of ``old`` whose value differs in ``new`` (keys only ``new`` has are allowed)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            d for k, v in old.items() for d in _same_where_both_have(v, new.get(k), f"{path}.{k}")
        ]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            d
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for d in _same_where_both_have(a, b, f"{path}[{i}]")
        ]
    return [] if old == new else [path]


def test_a_schema_1_run_reads_as_the_model() -> None:
    run = load_run(V1_RUN)
    assert run.stored_version == 1 and run.result.schema_version == SCHEMA_VERSION
    r = run.result
    assert r.status == "ok" and r.benchmark.id == "resnet50" and r.scenario == "Offline"
    assert r.result is not None and r.result.validity == "VALID" and r.figure == 9.56504
    assert r.result.counts.samples == 256 and r.result.official_field == "result_samples_per_second"
    assert r.flags is not None and r.flags.not_submittable_because == [
        "synthetic data",
        "random weights",
        "quick mode",
    ]
    assert r.loadgen.keys["target_qps"].source == "calibration"
    assert r.worker is not None and r.worker.exit_code == 0 and r.accuracy is None


def test_upgrading_schema_1_keeps_every_key_and_value() -> None:
    """Version 2 is version 1 plus keys it left out: the stored keys read back unchanged."""
    old = json.loads((V1_RUN / "result.json").read_text())
    new = RunResult.model_validate(upgrade_v1(old)).to_json()
    assert new["schema_version"] == 2 and list(new) == list(old)
    old["schema_version"] = 2
    assert _same_where_both_have(old, new) == []


def test_schema_1_left_out_what_version_2_writes_as_null() -> None:
    old = json.loads((V1_RUN / "result.json").read_text())
    for key in ("effective", "results", "seeds", "errors", "warnings"):
        del old["loadgen"][key]  # a schema 1 run that failed before the logs were parsed
    for key in ("batching", "sample_store", "replicas", "data_checks", "audit", "worker"):
        del old[key]  # an older schema 1 writer
    r = parse_result(old)
    assert r.loadgen.effective is None and r.loadgen.errors is None
    assert r.batching is None and r.worker is None and r.data_checks == {}
    metric = {"metric": "acc", "value": 0.1, "unit": "%"}  # no target: no target keys in v1
    old.update(mode="accuracy", accuracy={"status": "n/a-synthetic", "metrics": [metric]})
    acc = parse_result(old).accuracy
    assert acc is not None and acc.main is not None and acc.main.passed is None
    assert not acc.main.judged


@pytest.mark.parametrize(
    ("data", "needle", "fix"),
    [
        ({"schema_version": 3}, "schema_version 3; this inferlab reads 1, 2", "upgrade inferlab"),
        ({"schema_version": 0}, "schema_version 0", "the inferlab version that wrote it"),
        ({"status": "ok"}, "schema_version None", "the inferlab version that wrote it"),
        ([], "is not a JSON object", "re-run"),
    ],
)
def test_unknown_versions_are_refused_with_the_fix(data: Any, needle: str, fix: str) -> None:
    with pytest.raises(ResultError, match=needle) as err:
        parse_result(data)
    assert fix in err.value.fix


def test_a_result_that_does_not_match_its_schema() -> None:
    old = json.loads((V1_RUN / "result.json").read_text())
    old["result"]["validity"] = "MAYBE"
    old["flags"]["extra_flag"] = True
    with pytest.raises(ResultError, match=r"schema_version 1\) does not match its schema: "):
        parse_result(old)


# ---- the plan and the messages ---------------------------------------------------------------


def test_run_plan_round_trips_through_job_json(tmp_path: Path) -> None:
    cfg = RunConfig(benchmark="resnet50", backend="null", out=tmp_path)
    plan = RunPlan(
        config=cfg,
        variant="pytorch",
        dataset_path=None,
        model_path=tmp_path / "m.pth",
        cache_dir=tmp_path / "cache",
        batch_size=8,
        calibrate=True,
    )
    back = RunPlan.model_validate_json(plan.model_dump_json())
    assert back == plan and back.config == cfg and back.schema_version == 1
    with pytest.raises(ValueError, match="greater than 0"):
        RunPlan(config=cfg, variant="pytorch", batch_size=0, calibrate=False)


def test_channel_sends_and_validates_models() -> None:
    a, b = socket.socketpair()
    sup, wrk = supervisor_channel(a), worker_channel(b)
    try:
        sent = [
            Ready(backend={"device": "cpu"}, timings={"build_s": 0.1}),
            Heartbeat(issued=5, completed=3, outstanding=2, oldest_outstanding_ids=[1, 2]),
            Done(issue_path="python", replicas=[{"device": "cpu", "samples": 5}]),
            WorkerError(kind="DataError", message="bad", fix=None),
        ]
        for msg in sent:
            wrk.send(msg)
        assert [sup.recv(timeout=5) for _ in sent] == sent
        assert sup.recv(timeout=0.01) is None
        sup.send(Start(user_conf=Path("/r/user.conf")))
        assert wrk.recv(timeout=5) == Start(user_conf=Path("/r/user.conf"), audit_config=None)
        b.sendall(b'{"event": "hello"}\n')
        with pytest.raises(ProtocolError, match="unexpected message"):
            sup.recv(timeout=5)
        wrk.close()
        with pytest.raises(EOFError):
            sup.recv(timeout=5)
    finally:
        sup.close()
