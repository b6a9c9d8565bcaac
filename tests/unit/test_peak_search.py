"""The Server peak search: the pure search with fake probes, and the driver with a fake api.run."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from tests.unit.test_report_rows import fake_result

from inferlab.config.run_config import RunConfig
from inferlab.core.errors import ConfigError
from inferlab.core.files import atomic_write_json
from inferlab.report.console import peak_summary
from inferlab.results.models import RunResult
from inferlab.results.store import create_run_dir
from inferlab.runner import peak
from inferlab.runner.peak import (
    PROBE_MIN_QUERY_COUNT,
    PeakInterrupted,
    PeakOptions,
    PeakSearch,
    ProbeResult,
    find_peak,
    round_qps,
)
from inferlab.runner.supervisor import RunInterrupted


def threshold(limit: float) -> Any:
    def probe(qps: float) -> ProbeResult:
        return ProbeResult(qps, qps <= limit)

    return probe


def rates(s: PeakSearch) -> list[float]:
    return [p.target_qps for p in s.probes]


def assert_bracket(s: PeakSearch) -> None:
    """The peak is a VALID probe, the bound above it INVALID, and nothing VALID between them."""
    lo, hi = s.lo, s.hi
    assert lo is not None and hi is not None and lo < hi
    by_rate = {p.target_qps: p.valid for p in s.probes}
    assert by_rate[lo] is True and by_rate[hi] is False
    assert not any(p.valid and lo < p.target_qps < hi for p in s.probes)


def test_monotone_threshold_grows_then_bisects_to_tolerance() -> None:
    s = PeakSearch(start=100, tolerance=0.05, max_probes=20)
    found = s.run(threshold(1000))
    assert rates(s)[:5] == [100, 200, 400, 800, 1600]
    assert s.stop_reason == "converged"
    assert found == s.lo and found is not None and found <= 1000
    assert s.hi is not None and s.hi > 1000 and s.hi / found - 1 <= 0.05
    assert_bracket(s)
    assert len(set(rates(s))) == len(rates(s))  # no rate probed twice


def test_start_above_the_peak_shrinks_until_the_first_valid() -> None:
    s = PeakSearch(start=10000, tolerance=0.05, max_probes=20)
    found = s.run(threshold(1000))
    assert rates(s)[:5] == [10000, 5000, 2500, 1250, 625]
    assert s.stop_reason == "converged" and found is not None and 950 <= found <= 1000
    assert_bracket(s)


@pytest.mark.parametrize("seed", range(20))
def test_noisy_non_monotone_probe_keeps_a_consistent_bracket(seed: int) -> None:
    rng = random.Random(seed)

    def probe(qps: float) -> ProbeResult:  # valid below ~800, a coin toss 800..1200, then invalid
        p_valid = min(1.0, max(0.0, (1200 - qps) / 400))
        return ProbeResult(qps, rng.random() < p_valid)

    s = PeakSearch(start=100, tolerance=0.02, max_probes=12)
    s.run(probe)
    assert len(s.probes) <= 12 and s.stop_reason in ("converged", "budget")
    assert_bracket(s)
    assert s.peak is not None and 400 <= s.peak <= 1200


def test_contradicting_results_trust_the_lowest_invalid() -> None:
    s = PeakSearch(start=100)
    for qps, ok in ((100, True), (200, False), (400, True)):  # 400 VALID above 200 INVALID
        s.record(ProbeResult(qps, ok))
    assert (s.lo, s.hi) == (100, 200)
    assert s.next_qps() == 150


def test_all_invalid_shrinks_to_the_floor_and_finds_nothing() -> None:
    s = PeakSearch(start=100, max_probes=12, min_qps=1.0)
    assert s.run(lambda q: ProbeResult(q, False)) is None
    assert s.stop_reason == "floor"
    assert rates(s) == [100, 50, 25, 12.5, 6.25, 3.125, 1.562, 1.0]
    assert s.lo is None and s.hi == 1.0


def test_all_invalid_stops_on_the_budget_first() -> None:
    s = PeakSearch(start=1e6, max_probes=5)
    assert s.run(lambda q: ProbeResult(q, False)) is None
    assert s.stop_reason == "budget" and len(s.probes) == 5


def test_all_valid_grows_to_the_cap() -> None:
    s = PeakSearch(start=100, max_probes=12, max_qps=5000)
    assert s.run(lambda q: ProbeResult(q, True)) == 5000
    assert rates(s) == [100, 200, 400, 800, 1600, 3200, 5000]
    assert s.stop_reason == "cap" and s.hi is None


def test_budget_exhausted_while_growing_reports_a_lower_bound() -> None:
    s = PeakSearch(start=100, max_probes=4)
    assert s.run(threshold(1e9)) == 800
    assert s.stop_reason == "budget" and s.hi is None


def test_budget_exhausted_while_bisecting_keeps_the_bracket() -> None:
    s = PeakSearch(start=100, tolerance=0.001, max_probes=8)
    found = s.run(threshold(1000))
    assert s.stop_reason == "budget" and len(s.probes) == 8
    assert found is not None and found <= 1000
    assert_bracket(s)


def test_two_hopeless_probes_in_a_row_stop_the_shrinking() -> None:
    s = PeakSearch(start=1000, max_probes=12)
    assert s.run(lambda q: ProbeResult(q, False, hopeless=True)) is None
    assert s.stop_reason == "sut_too_slow" and len(s.probes) == 2

    # large batches at high load: hopeless once, then a lower rate helps
    s = PeakSearch(start=1000, tolerance=0.1, max_probes=12)
    s.run(lambda q: ProbeResult(q, q <= 300, hopeless=q >= 1000))
    assert s.stop_reason == "converged" and s.peak is not None and 270 <= s.peak <= 300


def test_a_recorded_first_probe_seeds_the_search() -> None:
    s = PeakSearch(start=777.831)
    s.record(ProbeResult(777.831, True))  # the calibrated first probe
    assert s.next_qps() == 1556


def test_round_qps() -> None:
    assert round_qps(777.831) == 777.8 and round_qps(123456.7) == 123500 and round_qps(0.5) == 0.5


@pytest.mark.parametrize(
    "kwargs",
    [{"probe_ms": 0}, {"max_probes": 1}, {"tolerance": 0}, {"start": -5}, {"max_qps": 0}],
)
def test_bad_options_are_config_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        PeakOptions(**kwargs)


@pytest.mark.parametrize(
    ("over", "needle"),
    [({"scenario": "Offline"}, "--scenario Server"), ({"mode": "accuracy"}, "performance mode")],
)
def test_only_server_performance_is_searched(
    tmp_path: Path, over: dict[str, Any], needle: str
) -> None:
    cfg = RunConfig(
        **{"scenario": "Server", "backend": "null", "out": tmp_path, **over}  # type: ignore[arg-type]
    )
    with pytest.raises(ConfigError, match=needle):
        find_peak(cfg)
    assert not any(tmp_path.iterdir())  # refused before anything is written


# --- the driver, with api.run replaced by a fake -------------------------------------------


class FakeRuns:
    """Stands in for api.run: VALID up to ``limit`` QPS (``confirm_limit`` for confirming runs);
    a calibrated run (no target_qps) runs at ``calibrated`` QPS."""

    def __init__(
        self,
        limit: float,
        *,
        confirm_limit: float | None = None,
        calibrated: float = 500.0,
        interrupt_at: int | None = None,
        fail_at: int | None = None,
        overload_above: float | None = None,
        overload_confirm_above: float | None = None,
    ) -> None:
        self.overload_confirm_above = overload_confirm_above
        self.limit = limit
        self.overload_above = overload_above
        self.confirm_limit = limit if confirm_limit is None else confirm_limit
        self.calibrated = calibrated
        self.interrupt_at = interrupt_at
        self.fail_at = fail_at
        self.configs: list[RunConfig] = []

    def __call__(self, cfg: RunConfig) -> RunResult:
        self.configs.append(cfg)
        n = len(self.configs)
        run_dir = create_run_dir(cfg.out, cfg.benchmark, cfg.scenario, cfg.mode).resolve()
        qps = cfg.loadgen.get("target_qps", self.calibrated)
        limit = self.confirm_limit if cfg.out.name == "confirm" else self.limit
        valid = qps <= limit
        content = fake_result(
            run_dir=str(run_dir),
            scenario="Server",
            status="ok" if valid else "invalid",
            result={
                "value": min(qps, limit),
                "validity": "VALID" if valid else "INVALID",
                "invalid_reasons": [] if valid else ["Server latency constraint not met"],
            },
            loadgen={"effective": {"effective_target_qps": qps}},
            timings={"total_s": 1.0},
            error=None,
        )
        over = self.overload_confirm_above if cfg.out.name == "confirm" else self.overload_above
        if over is not None and qps > over:
            message = "the SUT fell behind the offered load"  # what the worker's guard says
            content.update(
                status="failed", result=None, error={"kind": "ServerOverload", "message": message}
            )
        if n == self.fail_at:
            content.update(status="failed", result=None, error={"kind": "crash", "message": "boom"})
        if n == self.interrupt_at:
            content.update(status="interrupted", result=None)
        result = RunResult.model_validate(content)
        atomic_write_json(run_dir / "result.json", result.to_json())
        if n == self.interrupt_at:
            raise RunInterrupted(f"run interrupted; partial outputs kept in {run_dir}")
        return result


def search_cfg(tmp_path: Path, **over: Any) -> RunConfig:
    base: dict[str, Any] = {
        "benchmark": "resnet50",
        "scenario": "Server",
        "backend": "null",
        "out": tmp_path / "runs",
        "quick": True,
        "loadgen": {"max_duration": 60000},
    }
    return RunConfig(**{**base, **over})


def load_doc(tmp_path: Path) -> dict[str, Any]:
    (path,) = (tmp_path / "runs").glob("*_resnet50_Server_findpeak_*/peak.json")
    return json.loads(path.read_text())


def test_driver_probes_confirms_and_records_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeRuns(1000)
    monkeypatch.setattr(peak.api, "run", fake)
    doc = find_peak(search_cfg(tmp_path), PeakOptions(probe_ms=1500, tolerance=0.05))
    assert doc == load_doc(tmp_path)
    assert doc["status"] == "done" and doc["settings"]["start_source"] == "calibration"
    assert doc["settings"]["start_qps"] == 500
    probes = doc["probes"]
    assert [p["target_qps"] for p in probes][:3] == [500, 1000, 2000]
    assert [p["index"] for p in probes] == list(range(1, len(probes) + 1))
    group = Path(doc["group_dir"])
    assert all(Path(p["run_dir"]).parent == group / "probes" for p in probes)
    assert len({p["run_dir"] for p in probes}) == len(probes)
    assert doc["search"]["stop_reason"] == "converged" and doc["search"]["peak_qps"] == 1000
    assert doc["peak"] == {
        "qps": 1000,
        "validity": "VALID",
        "run_dir": doc["confirm"][0]["run_dir"],
        "achieved_qps": 1000,
        "search_peak_qps": 1000,
        "stepped_down": 0,
        "confirmed": True,
    }
    # probe settings: short LoadGen keys on top of the user's; calibration in the first only
    first, second, *_, confirm = fake.configs
    assert first.calibrate and "target_qps" not in first.loadgen and not second.calibrate
    assert second.loadgen == {
        "max_duration": 60000,
        "min_duration": 1500,
        "min_query_count": PROBE_MIN_QUERY_COUNT,
        "target_qps": 1000,
    }
    assert confirm.loadgen == {"max_duration": 60000, "target_qps": 1000}
    assert confirm.out == group / "confirm" and confirm.calibrate
    text = peak_summary(doc)
    assert "start 500.0 QPS (calibration)" in text
    assert text.splitlines()[-1].startswith("Server peak: 1,000.0 QPS VALID (confirmed in ")


def test_explicit_start_and_set_target_qps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRuns(1000)
    monkeypatch.setattr(peak.api, "run", fake)
    doc = find_peak(search_cfg(tmp_path, loadgen={"target_qps": 300}), PeakOptions(start=900))
    assert doc["settings"]["start_source"] == "--peak-start"
    assert doc["probes"][0]["target_qps"] == 900 and not fake.configs[0].calibrate

    fake = FakeRuns(1000)
    monkeypatch.setattr(peak.api, "run", fake)
    doc = find_peak(search_cfg(tmp_path / "b", loadgen={"target_qps": 300}), PeakOptions())
    assert doc["settings"]["start_source"] == "--set loadgen.target_qps"
    assert doc["probes"][0]["target_qps"] == 300

    conf = tmp_path / "user.conf"
    conf.write_text("resnet50.Server.target_qps = 400\n")
    monkeypatch.setattr(peak.api, "run", FakeRuns(1000))
    doc = find_peak(search_cfg(tmp_path / "u", user_conf=conf), PeakOptions())
    assert doc["settings"]["start_source"] == "user.conf target_qps"
    assert doc["probes"][0]["target_qps"] == 400

    fake = FakeRuns(1000)
    monkeypatch.setattr(peak.api, "run", fake)
    doc = find_peak(search_cfg(tmp_path / "c", calibrate=False), PeakOptions())
    assert doc["settings"]["start_source"] == "default"
    assert doc["probes"][0]["target_qps"] == peak.DEFAULT_START_QPS


def test_invalid_confirmation_steps_down_by_the_tolerance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(peak.api, "run", FakeRuns(1000, confirm_limit=920))
    doc = find_peak(search_cfg(tmp_path), PeakOptions(start=1000, tolerance=0.05))
    assert [c["target_qps"] for c in doc["confirm"]] == [1000, 952.4, 907]
    assert [c["validity"] for c in doc["confirm"]] == ["INVALID", "INVALID", "VALID"]
    assert doc["peak"]["qps"] == 907 and doc["peak"]["stepped_down"] == 2
    assert doc["peak"]["confirmed"] and doc["peak"]["search_peak_qps"] == 1000
    assert "INVALID in its confirming run" in peak_summary(doc)


def test_confirmation_gives_up_after_two_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(peak.api, "run", FakeRuns(1000, confirm_limit=100))
    doc = find_peak(search_cfg(tmp_path), PeakOptions(start=1000, tolerance=0.05))
    assert len(doc["confirm"]) == 3 and not doc["peak"]["confirmed"] and doc["peak"]["qps"] is None
    assert "Server peak: not confirmed" in peak_summary(doc)
    assert not peak.peak_ok(doc)


def test_no_valid_probe_means_no_confirming_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(peak.api, "run", FakeRuns(0.5))
    doc = find_peak(search_cfg(tmp_path), PeakOptions(start=8, max_probes=12))
    assert [p["target_qps"] for p in doc["probes"]] == [8, 4, 2, 1]
    assert doc["search"]["stop_reason"] == "floor" and doc["confirm"] == []
    assert doc["peak"]["qps"] is None
    assert "no probe was VALID" in peak_summary(doc)


def test_ctrl_c_keeps_the_probes_done_so_far(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(peak.api, "run", FakeRuns(1000, interrupt_at=3))
    with pytest.raises(PeakInterrupted) as info:
        find_peak(search_cfg(tmp_path), PeakOptions(start=300))
    assert info.value.exit_code == 130
    doc = load_doc(tmp_path)
    assert doc == info.value.doc
    assert doc["status"] == "interrupted" and doc["finished_at"]
    assert [(p["target_qps"], p["status"]) for p in doc["probes"]] == [
        (300, "ok"),
        (600, "ok"),
        (1200, "interrupted"),
    ]
    assert all(Path(p["run_dir"], "result.json").is_file() for p in doc["probes"])
    assert "interrupted after 2 complete probe(s)" in peak_summary(doc)


def test_a_failed_probe_stops_the_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peak.api, "run", FakeRuns(1000, fail_at=2))
    doc = find_peak(search_cfg(tmp_path), PeakOptions(start=300))
    assert doc["status"] == "failed" and len(doc["probes"]) == 2 and doc["confirm"] == []
    assert "probe 2 failed: boom" in doc["error"]["message"]
    assert doc == load_doc(tmp_path)
    assert peak_summary(doc).splitlines()[-1].startswith("Server peak: not found: probe 2 failed")


def test_a_probe_the_backlog_guard_stopped_counts_as_too_fast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15 item 3: a Server run whose backlog outgrew the SUT fails (ServerOverload); in a
    search that says the rate is too high, as INVALID does, and the search goes on down."""
    fake = FakeRuns(1000, confirm_limit=950, overload_above=3000)
    monkeypatch.setattr(peak.api, "run", fake)
    doc = find_peak(search_cfg(tmp_path), PeakOptions(start=8000, tolerance=0.05))
    assert doc["status"] == "done"
    probes = doc["probes"]
    assert [p["target_qps"] for p in probes][:3] == [8000, 4000, 2000]
    assert [p["status"] for p in probes][:3] == ["failed", "failed", "invalid"]
    assert probes[0]["error"]["kind"] == peak.OVERLOAD
    assert doc["search"]["peak_qps"] == 1000
    assert doc["peak"]["qps"] is not None and doc["peak"]["confirmed"]


def test_an_overloaded_confirming_run_steps_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeRuns(1000, confirm_limit=900, overload_confirm_above=960)
    monkeypatch.setattr(peak.api, "run", fake)
    doc = find_peak(search_cfg(tmp_path), PeakOptions(start=1000, tolerance=0.05))
    statuses = [c["status"] for c in doc["confirm"]]
    assert statuses[0] == "failed" and doc["confirm"][0]["error"]["kind"] == peak.OVERLOAD
    # stepped down instead of giving up on a "failed" run: 1000 (overloaded), 952.4 (INVALID)
    assert [c["target_qps"] for c in doc["confirm"]] == [1000, 952.4, 907]
    assert statuses[1:] == ["invalid", "invalid"] and not doc["peak"]["confirmed"]
