"""Calibration before the LoadGen test: fixed batches, or the batches a variable-cost plan cuts."""

from __future__ import annotations

import numpy as np

from inferlab.core.task import BatchPlan
from inferlab.loadgen.dispatch import CostAware, FixedBatch
from inferlab.runner.calibration import loadgen_hints, measure
from inferlab.runner.worker import calibration_batches


class FakeClock:
    """A clock the fake run_batch functions advance by their simulated cost."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_fixed_batch_is_repeated() -> None:
    clock = FakeClock()
    seen: list[list[int]] = []

    def run(idx: np.ndarray) -> None:
        seen.append(idx.tolist())
        clock.t += 0.5

    out = measure(run, scenario="Offline", available=100, batch_size=4, clock=clock, budget_s=1)
    assert all(s == [0, 1, 2, 3] for s in seen)
    assert out["batch_size"] == 4 and out["throughput_sps"] == 8.0  # 4 samples per 0.5 s


def test_variable_cost_batches_are_cycled_and_counted_by_samples() -> None:
    clock = FakeClock()
    lengths = np.array([10, 300, 20, 200, 30, 100])

    def run(idx: np.ndarray) -> None:
        clock.t += float(lengths[idx].max()) * len(idx) / 1000

    plan = BatchPlan(
        FixedBatch(2), order=lambda idx: np.argsort(-lengths[idx], kind="stable"),
        variable_cost=True,
    )  # fmt: skip
    batches = calibration_batches(plan, 6, "Offline")
    # sorted and cut ([1, 3], [5, 4], [2, 0]), then taken from both ends in turn
    assert [b.tolist() for b in batches] == [[1, 3], [2, 0], [5, 4]]
    out = measure(
        run, scenario="Offline", available=6, batch_size=2, clock=clock, budget_s=1.0,
        batches=batches,
    )  # fmt: skip
    # one cycle = 6 samples in (600 + 200 + 40) ms
    assert (
        out["throughput_sps"] == np.float64(6 / 0.84)
        or abs(out["throughput_sps"] - 6 / 0.84) < 1e-9
    )
    hints, notes = loadgen_hints(out, "Offline", 0.5)
    assert abs(hints["target_qps"] - round(6 / 0.84 * 1.1, 3)) < 1e-9 and notes["target_qps"]
    # Server: arrival order (no sorting); SingleStream: single samples
    server = calibration_batches(plan, 6, "Server")
    assert [b.tolist() for b in server] == [[0, 1], [4, 5], [2, 3]]
    ss = calibration_batches(plan, 6, "SingleStream")
    assert [b.tolist() for b in ss] == [[i] for i in range(6)]


def test_token_budget_plan_cuts_calibration_batches_like_the_run() -> None:
    lengths = np.array([100, 100, 50, 50, 50, 50])
    plan = BatchPlan(
        CostAware(max_cost=200, cost_of=lambda idx: lengths[idx], padded=True),
        order=lambda idx: np.argsort(-lengths[idx], kind="stable"),
        variable_cost=True,
    )
    assert [b.tolist() for b in calibration_batches(plan, 6, "Offline")] == [
        [0, 1],
        [2, 3, 4, 5],
    ]


def test_server_plan_turns_fixed_batches_into_a_latency_budget() -> None:
    from inferlab.config import build_config
    from inferlab.loadgen.dispatch import LatencyBudget
    from inferlab.runner.worker import server_plan

    fixed = BatchPlan(FixedBatch(64), facts={"policy": "fixed"})
    server = build_config(flags={"scenario": "Server"}, sets=[], environ={})
    plan = server_plan(fixed, server, 15.0)
    assert plan.policy == LatencyBudget(64, 0.0015)  # 10% of the 15 ms bound
    assert plan.facts == {"policy": "latency-budget", "max_wait_ms": 1.5}
    assert server_plan(fixed, server, 130.0).policy == LatencyBudget(64, 0.002)  # capped at 2 ms
    own = build_config(flags={"scenario": "Server"}, sets=["server_max_wait_ms=0.5"], environ={})
    assert server_plan(fixed, own, 15.0).policy == LatencyBudget(64, 0.0005)
    offline = build_config(flags={"scenario": "Offline"}, sets=[], environ={})
    assert server_plan(fixed, offline, 15.0) is fixed
    budget = BatchPlan(CostAware(max_cost=10, cost_of=lambda i: i))
    assert server_plan(budget, server, 15.0) is budget  # token budgets are left alone


def test_hints_lean_towards_a_valid_run_when_the_calibration_is_noisy() -> None:
    clock = FakeClock()
    costs = iter([0.5] + [0.9, 0.1, 0.1, 0.9, 0.1] * 100)  # warm-up, then a busy machine

    def run(idx: np.ndarray) -> None:
        clock.t += next(costs)

    out = measure(run, scenario="SingleStream", available=8, batch_size=4, clock=clock)
    # spread 9 > 3: measured again
    assert abs(out["latency_min_s"] - 0.1) < 1e-9 and out["remeasured"]
    hints, _ = loadgen_hints(out, "SingleStream", 0.5)
    assert hints["target_latency"] == 50.0  # 0.5 x the fastest (rounded), not the median
    # quick mode: at most min_duration / (8 x min_query_count) when min_query_count queries
    # could end before min_duration (64 x 100 ms = 6.4 s < 2 x 10 s)
    out["run_minimums"] = {"min_duration_ms": 10_000, "min_query_count": 64}
    hints, notes = loadgen_hints(out, "SingleStream", 0.5)
    assert hints["target_latency"] == round(10_000 / 512, 4)
    assert "enough queries" in notes["target_latency"]
    # fixed-cost samples keep the cap even when the queries would outlast min_duration (a slow
    # calibration there is more likely a busy machine)
    out["run_minimums"] = {"min_duration_ms": 1000, "min_query_count": 64}
    assert not out["variable_cost"]
    assert loadgen_hints(out, "SingleStream", 0.5)[0]["target_latency"] == round(1000 / 512, 4)
    # ... variable-cost ones (an LLM's) do not when they outlast it twice over (6.4 s >= 2 x 1 s):
    # LoadGen would otherwise generate 512 queries (minutes) instead of 64
    out["variable_cost"] = True
    hints, notes = loadgen_hints(out, "SingleStream", 0.5)
    assert hints["target_latency"] == 50.0 and "enough queries" not in notes["target_latency"]


def test_offline_uses_the_fastest_and_server_the_median() -> None:
    calib = {"throughput_sps": 100.0, "throughput_best_sps": 200.0}
    assert loadgen_hints(calib, "Offline", 0.5)[0]["target_qps"] == 220.0
    assert loadgen_hints(calib, "Server", 0.5)[0]["target_qps"] == 50.0


def test_server_ladder_keeps_batches_within_half_the_bound() -> None:
    clock = FakeClock()

    def run(idx: np.ndarray) -> None:
        clock.t += 0.002 + 0.001 * len(idx)  # 3 ms for 1, 10 ms for 8, 18 ms for 16

    out = measure(
        run, scenario="Server", available=64, batch_size=64, clock=clock, latency_bound_s=0.015
    )
    assert out["server_batch"] == 4  # 6 ms <= 7.5 ms; 8 samples take 10 ms
    assert abs(out["server_sps"] - 4 / 0.006) < 1e-6
    assert [row[0] for row in out["server_ladder"]] == [1, 2, 4, 8]


def test_the_harness_rate_bounds_the_server_load() -> None:
    from inferlab.runner.calibration import HARNESS_SHARE, add_harness_rate

    calib: dict = {"server_sps": 4_000_000.0}
    add_harness_rate(calib, lambda: {"harness_sps": 600_000.0})
    expect = 1 / (1 / 4_000_000 + 1 / (HARNESS_SHARE * 600_000))
    assert abs(calib["sustainable_sps"] - expect) < 1e-6
    hints, notes = loadgen_hints(calib, "Server", 0.5)
    assert hints["target_qps"] == round(expect * 0.5, 3)
    assert "sustainable rate" in notes["target_qps"]
    slow: dict = {"server_sps": 50.0}
    add_harness_rate(slow, lambda: 1 / 0)  # type: ignore[arg-type,return-value]
    assert slow["sustainable_sps"] == 50.0  # a slow backend: no probe
