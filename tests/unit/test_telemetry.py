"""The telemetry sampler (runner/telemetry.py): CPU on this machine, GPUs through a fake NVML."""

from __future__ import annotations

import csv
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest

from inferlab.runner import telemetry as tm
from inferlab.runner.telemetry import (
    COLUMNS,
    TelemetrySampler,
    gpu_indices_for,
    read_cpu_times,
    read_memory_mib,
    with_samples,
)

LINUX = Path("/proc/stat").is_file()


class FakeNvml(types.ModuleType):
    """Enough of pynvml: two GPUs; power steps through `powers` (mW); the energy counter
    (mJ) advances by `energy_step` per power reading when `with_energy`."""

    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2

    def __init__(
        self, *, count: int = 2, powers: list[float] | None = None, with_energy: bool = True
    ) -> None:
        super().__init__("pynvml")
        self.count = count
        self.powers = powers or [300_000.0]
        self.with_energy = with_energy
        self.calls = {i: 0 for i in range(count)}
        self.energy = {i: 1_000_000.0 for i in range(count)}
        self.init_calls = 0
        self.shutdown_calls = 0

    def nvmlInit(self) -> None:
        self.init_calls += 1

    def nvmlShutdown(self) -> None:
        self.shutdown_calls += 1

    def nvmlDeviceGetCount(self) -> int:
        return self.count

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetName(self, h: int) -> bytes:
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetPowerUsage(self, h: int) -> float:
        n = self.calls[h]
        self.calls[h] += 1
        self.energy[h] += 5_000.0  # 5 J per reading
        return self.powers[min(n, len(self.powers) - 1)]

    def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> float:
        if not self.with_energy:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        return self.energy[h]

    def nvmlDeviceGetTemperature(self, h: int, kind: int) -> int:
        assert kind == 0
        return 60 + h

    def nvmlDeviceGetClockInfo(self, h: int, kind: int) -> int:
        return {1: 1980, 2: 2619}[kind]

    def nvmlDeviceGetUtilizationRates(self, h: int) -> Any:
        return types.SimpleNamespace(gpu=90 + h, memory=40)

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        return types.SimpleNamespace(used=10 * 2**30, total=80 * 2**30)


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_cpu_sampling_on_this_machine(tmp_path: Path) -> None:
    busy, total = read_cpu_times() or (0, 0)
    assert 0 <= busy <= total and total > 0
    used, mem_total = read_memory_mib() or (0.0, 0.0)
    assert 0 < used < mem_total
    with TelemetrySampler(tmp_path / "t.csv", interval_s=0.05, nvml=FakeNvml(count=0)) as s:
        end = time.monotonic() + 0.4
        while time.monotonic() < end:  # some load so the utilisation is not all idle
            sum(range(10_000))
    summary = s.summary()
    cpu = summary["cpu"]
    assert 0 <= cpu["util_avg_pct"] <= cpu["util_peak_pct"] <= 100
    assert 0 < cpu["mem_used_peak_mib"] <= cpu["mem_total_mib"]
    assert summary["ticks"] >= 3
    rows = read_rows(tmp_path / "t.csv")
    assert {r["device"] for r in rows} == {"cpu"}
    assert rows[0]["util_pct"] == ""  # no previous reading to diff against
    # a tick where /proc/stat did not advance (10 ms jiffies, a busy machine) stays blank
    values = [float(r["util_pct"]) for r in rows[1:] if r["util_pct"] != ""]
    assert values and all(0 <= v <= 100 for v in values)


def test_proc_parsers() -> None:
    stat = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n"
    assert read_cpu_times(stat) == (150, 1000)
    mem = "MemTotal:       2048000 kB\nMemFree: 100 kB\nMemAvailable:   1024000 kB\n"
    assert read_memory_mib(mem) == (1000.0, 2000.0)


def test_gpu_path_with_fake_nvml_counter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(powers=[100_000.0, 300_000.0, 200_000.0])
    monkeypatch.setitem(sys.modules, "pynvml", fake)  # the sampler imports pynvml itself
    s = TelemetrySampler(tmp_path / "telemetry.csv", interval_s=0.05, counted_gpus=(0,))
    s.start()
    time.sleep(0.3)
    summary = with_samples(s.stop(), 100)
    assert summary is not None and fake.init_calls == 1 and fake.shutdown_calls == 1
    assert summary["gpu_reason"] is None
    g0, g1 = summary["gpu"]
    readings = fake.calls[0]
    assert readings >= 3
    assert g0["name"] == "NVIDIA H100 80GB HBM3"
    assert g0["power_peak_w"] == 300.0
    # the counter advanced 5 J per reading; the first reading is the baseline
    assert g0["energy_source"] == "counter"
    assert g0["energy_j"] == pytest.approx(5.0 * (readings - 1))
    assert g0["util_avg_pct"] == 90 and g1["util_peak_pct"] == 91
    assert g1["temperature_peak_c"] == 61 and g0["sm_clock_avg_mhz"] == 1980
    assert g0["mem_used_peak_mib"] == 10240
    # only GPU 0 counts for the run's energy
    assert summary["counted_gpus"] == [0]
    assert summary["energy_j"] == g0["energy_j"]
    assert summary["joules_per_sample"] == pytest.approx(g0["energy_j"] / 100)
    assert g1["joules_per_sample"] == pytest.approx(g1["energy_j"] / 100)
    rows = read_rows(tmp_path / "telemetry.csv")
    gpu0 = [r for r in rows if r["device"] == "gpu0"]
    assert len(gpu0) == readings
    assert [float(r["power_w"]) for r in gpu0[:3]] == [100.0, 300.0, 200.0]
    assert gpu0[0]["energy_mj"] == "1005000"


def test_energy_integrated_when_no_counter(tmp_path: Path) -> None:
    fake = FakeNvml(count=1, powers=[200_000.0], with_energy=False)
    s = TelemetrySampler(tmp_path / "t.csv", interval_s=0.05, nvml=fake)
    s.start()
    time.sleep(0.25)
    summary = s.stop()
    assert summary is not None
    (g,) = summary["gpu"]
    assert g["energy_source"] == "integrated power"
    # constant 200 W over the sampled window: energy = 200 * window
    assert g["energy_j"] == pytest.approx(200.0 * summary["window_s"], rel=0.05)
    assert summary["counted_gpus"] == [0] and summary["energy_j"] == g["energy_j"]
    rows = read_rows(tmp_path / "t.csv")
    assert all(r["energy_mj"] == "" for r in rows if r["device"] == "gpu0")


def test_integration_arithmetic() -> None:
    """Trapezoids between readings: 100 W then 300 W one second apart is 200 J."""
    g = tm._GpuState(index=0, name="x", handle=0)
    fake = FakeNvml(count=1, powers=[100_000.0, 300_000.0], with_energy=False)
    s = TelemetrySampler(Path("unused.csv"), nvml=fake)  # never started: no file
    s._sample_gpu(g, now=10.0)
    s._sample_gpu(g, now=11.0)
    summary = g.summary()
    assert summary["energy_j"] == 200.0 and summary["energy_source"] == "integrated power"
    assert summary["power_avg_w"] == 200.0 and summary["power_peak_w"] == 300.0


def test_absent_gpu_recorded_not_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    s = TelemetrySampler(tmp_path / "t.csv", interval_s=0.05)
    s.start()
    summary = with_samples(s.stop(), 50)
    assert summary is not None
    assert summary["gpu"] is None
    assert summary["gpu_reason"].startswith("no NVIDIA GPU / NVML not available")
    assert summary["energy_j"] is None and summary["joules_per_sample"] is None

    class Broken(FakeNvml):
        def nvmlInit(self) -> None:
            raise RuntimeError("NVML Shared Library Not Found")

    s = TelemetrySampler(tmp_path / "t2.csv", interval_s=0.05, nvml=Broken())
    s.start()
    summary = s.stop()
    assert summary is not None and summary["gpu"] is None
    assert "NVML Shared Library Not Found" in summary["gpu_reason"]


def test_thread_stops_cleanly(tmp_path: Path) -> None:
    s = TelemetrySampler(tmp_path / "t.csv", interval_s=0.05, nvml=FakeNvml(count=1))
    assert s.stop() is None  # never started
    s.start()
    assert s.running
    t = time.monotonic()
    s.stop()
    assert time.monotonic() - t < 1.0
    assert not s.running
    ticks = s.ticks
    time.sleep(0.15)
    assert s.ticks == ticks  # nothing samples after stop


def test_csv_written_incrementally(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.csv"
    s = TelemetrySampler(path, interval_s=0.05, nvml=FakeNvml(count=1))
    s.start()
    try:
        time.sleep(0.12)
        first = read_rows(path)
        time.sleep(0.2)
        second = read_rows(path)
        assert first and len(second) > len(first)  # flushed while running, appended
        assert second[: len(first)] == first
    finally:
        s.stop()
    with open(path, newline="") as fh:
        assert tuple(next(csv.reader(fh))) == COLUMNS


def test_sampling_errors_do_not_stop_the_thread(tmp_path: Path) -> None:
    class Flaky(FakeNvml):
        def nvmlDeviceGetUtilizationRates(self, h: int) -> Any:
            raise RuntimeError("not supported")

    s = TelemetrySampler(tmp_path / "t.csv", interval_s=0.05, nvml=Flaky(count=1))
    s.start()
    time.sleep(0.2)
    summary = s.stop()
    assert summary is not None
    g = summary["gpu"][0]
    assert g["util_avg_pct"] is None and g["power_avg_w"] == 300.0


def test_gpu_indices_for_device_strings() -> None:
    assert gpu_indices_for("cpu") == ()
    assert gpu_indices_for("cpu:0,1") == ()
    assert gpu_indices_for("cuda") == (0,)
    assert gpu_indices_for("cuda:1,3") == (1, 3)
    assert gpu_indices_for("cuda:all") is None


def test_cpu_run_counts_no_gpu_energy(tmp_path: Path) -> None:
    s = TelemetrySampler(tmp_path / "t.csv", interval_s=0.05, nvml=FakeNvml(), counted_gpus=())
    s.start()
    summary = with_samples(s.stop(), 10)
    assert summary is not None and len(summary["gpu"]) == 2
    assert summary["counted_gpus"] == [] and summary["energy_j"] is None
    assert summary["joules_per_sample"] is None
