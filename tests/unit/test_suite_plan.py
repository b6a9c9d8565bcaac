"""Issue 16: a suite's plan is the round's requirements (rules 2.4 and the compliance tests per
benchmark), and the system file layers settings per benchmark and scenario."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferlab.core.errors import ConfigError
from inferlab.suite.plan import expand_benchmarks, make_plan
from inferlab.suite.system import load_system_file, run_config

PERF, ACC = "performance", "accuracy"


def keys(plan) -> set[str]:  # type: ignore[no-untyped-def]
    return {r.key for r in plan.runs}


def grid(bid: str, scenarios: tuple[str, ...], tests: tuple[str, ...]) -> set[str]:
    return {f"{bid}/{s}/{t}" for s in scenarios for t in (PERF, ACC, *tests)}


def test_edge_v61_resnet50_and_bert99() -> None:
    """v6.1 edge: ResNet50 SingleStream, MultiStream, Offline with TEST01 and TEST04; BERT-99
    SingleStream and Offline with TEST01."""
    plan = make_plan(["resnet50", "bert-99"], category="edge", round_="v6.1")
    assert keys(plan) == grid(
        "resnet50", ("SingleStream", "MultiStream", "Offline"), ("TEST01", "TEST04")
    ) | grid("bert-99", ("SingleStream", "Offline"), ("TEST01",))
    assert plan.benchmarks == ["resnet50", "bert-99"] and plan.skipped == []
    assert all(r.required for r in plan.runs)
    # each scenario: the performance run first, its compliance tests after
    order = [r.key for r in plan.runs if r.benchmark == "resnet50" and r.scenario == "Offline"]
    assert order == [f"resnet50/Offline/{t}" for t in (PERF, ACC, "TEST01", "TEST04")]


def test_datacenter_v61_has_neither() -> None:
    """From v5.1 ResNet50 and BERT are edge only: nothing to run, said with the fix."""
    with pytest.raises(ConfigError) as err:
        make_plan(["resnet50", "bert-99"], category="datacenter", round_="v6.1")
    assert "round v6.1 has no datacenter resnet (only edge: --category edge)" in err.value.message
    assert "bert-99" in err.value.message


def test_datacenter_v41_server_and_offline_and_both_bert_targets() -> None:
    plan = make_plan(["resnet50", "bert"], category="datacenter", round_="v4.1")
    assert plan.benchmarks == ["resnet50", "bert-99", "bert-99.9"]
    assert keys(plan) == (
        grid("resnet50", ("Offline", "Server"), ("TEST01", "TEST04"))
        | grid("bert-99", ("Offline", "Server"), ("TEST01",))
        | grid("bert-99.9", ("Offline", "Server"), ("TEST01",))
    )
    # v4.1 also asked for TEST05, which inferlab does not run: listed, not dropped silently
    test05 = [s.what for s in plan.skipped if s.what.endswith("TEST05")]
    assert len(test05) == 6 and all("does not run TEST05" in s.why for s in plan.skipped)


def test_datacenter_v50_resnet_only() -> None:
    plan = make_plan(["resnet50", "bert-99"], category="datacenter", round_="v5.0")
    assert plan.benchmarks == ["resnet50"]
    assert keys(plan) == grid("resnet50", ("Offline", "Server"), ("TEST01", "TEST04"))
    assert [(s.what, s.why) for s in plan.skipped] == [
        ("bert-99", "round v5.0 has no datacenter bert-99 (only edge: --category edge)")
    ]


def test_open_division_has_no_compliance_runs() -> None:
    plan = make_plan(["resnet50"], category="edge", division="open", round_="v6.1")
    assert keys(plan) == grid("resnet50", ("SingleStream", "MultiStream", "Offline"), ())


def test_without_names_every_registered_benchmark_of_the_round() -> None:
    """A benchmark that joins the registry joins the suites its round has it in."""
    plan = make_plan(None, category="edge", round_="v6.1")
    assert plan.benchmarks == ["resnet50", "bert-99", "bert-99.9", "llama3.1-8b-edge"]
    assert grid("llama3.1-8b-edge", ("SingleStream", "Offline"), ()) <= keys(plan)
    dc = make_plan(None, category="datacenter", round_="v6.1")
    assert dc.benchmarks == ["llama3.1-8b"]
    # Offline required, Server and Interactive optional, TEST06 for each
    assert keys(dc) == grid("llama3.1-8b", ("Offline", "Server", "Interactive"), ("TEST06",))
    for scn in ("Server", "Interactive"):
        assert [r.required for r in dc.runs if r.scenario == scn] == [False, False, False]
    skipped = {s.what: s.why for s in dc.skipped}
    assert not any("TEST06" in what or "Interactive" in what for what in skipped)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"category": "cloud", "round_": "v6.1"}, "unknown category 'cloud'"),
        ({"category": "edge", "division": "closedd", "round_": "v6.1"}, "unknown division"),
        ({"category": "edge", "round_": "v9.9"}, "v9.9"),
    ],
)
def test_bad_choices(kwargs: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        make_plan(["resnet50"], **kwargs)  # type: ignore[arg-type]


def test_family_names_expand_to_every_accuracy_target() -> None:
    assert expand_benchmarks(["bert"]) == ["bert-99", "bert-99.9"]
    assert expand_benchmarks(["bert-99.9", "resnet50", "bert"]) == [
        "bert-99.9",
        "resnet50",
        "bert-99",
    ]
    with pytest.raises(ConfigError, match="unknown benchmark"):
        expand_benchmarks(["resnet5"])


SYSTEM = """
backend: "null"
dtype: fp32
data_dir: data
loadgen: {min_duration: 1000}
benchmarks:
  resnet50:
    batch_size: 16
    scenarios:
      offline: {batch_size: 64, loadgen: {target_qps: 5000}}
"""


def test_system_file_layers(tmp_path: Path) -> None:
    path = tmp_path / "sys" / "box.yaml"
    path.parent.mkdir()
    path.write_text(SYSTEM)
    system = load_system_file(path)
    plan = make_plan(["resnet50"], category="edge", round_="v6.1")
    by_key = {r.key: r for r in plan.runs}
    out = tmp_path / "runs"

    def cfg(key: str, flags: dict | None = None, sets: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
        return run_config(by_key[key], system, flags=flags or {}, sets=sets, out=out, environ={})

    off = cfg("resnet50/Offline/performance")
    assert off.batch_size == 64 and off.loadgen == {"min_duration": 1000, "target_qps": 5000}
    assert off.backend == "null" and off.data_dir == tmp_path / "sys" / "data"  # file-relative
    ss = cfg("resnet50/SingleStream/TEST01")
    assert ss.batch_size == 16 and ss.audit == "TEST01" and ss.loadgen == {"min_duration": 1000}
    assert ss.out == out and ss.scenario == "SingleStream" and ss.mode == "performance"
    # flags over the file, --set over the flags
    over = cfg("resnet50/Offline/performance", {"batch_size": 8}, ("batch_size=4",))
    assert over.batch_size == 4
    assert cfg("resnet50/Offline/performance", {"batch_size": 8}).batch_size == 8
    assert system.target_qps("resnet50", "Offline") == 5000


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("scenario: Offline\n", "sets scenario, which the suite decides"),
        ("benchmarks: {resnet5: {}}\n", "unknown benchmark 'resnet5'"),
        ("benchmarks: {resnet50: {scenarios: {Batch: {}}}}\n", "unknown scenario 'Batch'"),
        ("benchmarks: [resnet50]\n", "must hold a mapping"),
        ("benchmarks: {resnet50: {mode: accuracy}}\n", "sets mode"),
        ("backend: null\n", "YAML's empty value, not the null backend"),
    ],
)
def test_system_file_refusals(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "box.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_system_file(path)


def test_a_bad_value_names_the_run_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "box.yaml"
    path.write_text("benchmarks: {resnet50: {batch_size: -3}}\n")
    system = load_system_file(path)
    run = make_plan(["resnet50"], category="edge", round_="v6.1").runs[0]
    with pytest.raises(ConfigError) as err:
        run_config(run, system, flags={}, sets=(), out=tmp_path, environ={})
    assert err.value.message.startswith(f"{run.key} (system file {path}): invalid batch_size")


def test_server_rate_from_the_file_else_one_search_per_benchmark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Server runs take target_qps from the system file; without one, find-peak runs once per
    benchmark and its rate is recorded (suite.json) and used by every Server run after it."""
    from inferlab.runner import peak
    from inferlab.suite import execute
    from inferlab.suite.state import SuiteState

    plan = make_plan(["resnet50"], category="datacenter", round_="v4.1")
    server = [r for r in plan.runs if r.scenario == "Server"]
    opts = execute.SuiteOptions(out=tmp_path, category="datacenter", round="v4.1")
    state = SuiteState.new(tmp_path, plan, opts.args())
    searched: list[str] = []

    def fake_find_peak(cfg, opts=None):  # type: ignore[no-untyped-def]
        searched.append(f"{cfg.benchmark} {cfg.scenario} {cfg.out}")
        return {"peak": {"qps": 1234.0}, "group_dir": str(tmp_path / "peak" / "g")}

    monkeypatch.setattr(peak, "find_peak", fake_find_peak)
    none = load_system_file(None)
    extras = [execute._server_extra(state, opts, none, r, lambda m: None) for r in server]
    assert extras == [{"loadgen": {"target_qps": 1234.0}}] * len(server)
    assert searched == [f"resnet50 Server {tmp_path / 'peak'}"]  # once
    saved = SuiteState.load(tmp_path).server_qps["resnet50"]
    assert saved["qps"] == 1234.0 and saved["source"] == "find-peak"
    offline = next(r for r in plan.runs if r.scenario == "Offline")
    assert execute._server_extra(state, opts, none, offline, lambda m: None) == {}

    path = tmp_path / "box.yaml"
    path.write_text("benchmarks: {resnet50: {scenarios: {Server: {loadgen: {target_qps: 99}}}}}\n")
    fresh = SuiteState(tmp_path / "s2.json", plan, opts.args())
    assert execute._server_extra(fresh, opts, load_system_file(path), server[0], print) == {}
    assert fresh.server_qps["resnet50"] == {"qps": 99.0, "source": "the system file"}
    assert len(searched) == 1

    # a search that finds no VALID rate: the Server runs cannot go, and it is not repeated
    monkeypatch.setattr(peak, "find_peak", lambda cfg, opts=None: {"peak": {"qps": None}})
    other = SuiteState(tmp_path / "s3.json", plan, opts.args())
    assert execute._server_extra(other, opts, none, server[0], lambda m: None) is None
    monkeypatch.setattr(peak, "find_peak", fake_find_peak)
    assert execute._server_extra(other, opts, none, server[1], lambda m: None) is None
    assert len(searched) == 1
