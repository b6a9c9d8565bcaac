"""GPU and CPU telemetry sampled by the supervisor while the worker runs the LoadGen test.

A :class:`TelemetrySampler` thread (in the supervisor process, off the worker's hot path) reads,
every ``interval_s``: per NVIDIA GPU through NVML (``pynvml`` from the optional package
``nvidia-ml-py``) power, the energy counter, temperature, SM/memory clocks, utilisation and
memory used; for the host CPU utilisation (``/proc/stat``) and memory used (``/proc/meminfo``).
Each reading is appended to ``telemetry.csv`` (one row per device per tick, flushed each tick);
only running sums and peaks stay in memory. :meth:`TelemetrySampler.stop` returns the summary
stored as ``result.json["telemetry"]``; :func:`with_samples` adds joules per sample.
Without NVML or a GPU the summary says so (``gpu: null`` and ``gpu_reason``), never zeros.
"""

from __future__ import annotations

import csv
import importlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import IO, Any

from inferlab.core.clock import now_iso

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 0.5
NO_GPU = "no NVIDIA GPU / NVML not available"
COLUMNS = (
    "timestamp",
    "elapsed_s",
    "device",
    "util_pct",
    "mem_used_mib",
    "power_w",
    "energy_mj",
    "temperature_c",
    "sm_clock_mhz",
    "mem_clock_mhz",
    "mem_util_pct",
)
# NVML enum values (pynvml names them the same; a module may lack the constants)
_TEMPERATURE_GPU = 0
_CLOCK_SM = 1
_CLOCK_MEM = 2


class _Stat:
    """Running count, sum and peak of one series (None readings skipped)."""

    __slots__ = ("n", "total", "peak")

    def __init__(self) -> None:
        self.n = 0
        self.total = 0.0
        self.peak: float | None = None

    def add(self, value: float | None) -> None:
        if value is None:
            return
        self.n += 1
        self.total += value
        self.peak = value if self.peak is None or value > self.peak else self.peak

    def avg(self, digits: int = 2) -> float | None:
        return round(self.total / self.n, digits) if self.n else None

    def max(self, digits: int = 2) -> float | None:
        return round(self.peak, digits) if self.peak is not None else None


@dataclass
class _GpuState:
    index: int
    name: str
    handle: Any
    power: _Stat = field(default_factory=_Stat)
    util: _Stat = field(default_factory=_Stat)
    mem_util: _Stat = field(default_factory=_Stat)
    temp: _Stat = field(default_factory=_Stat)
    sm_clock: _Stat = field(default_factory=_Stat)
    mem_used: _Stat = field(default_factory=_Stat)
    energy_first_mj: float | None = None
    energy_last_mj: float | None = None
    integrated_j: float = 0.0
    last_power: tuple[float, float] | None = None  # (t, W)
    unsupported: set[str] = field(default_factory=set)

    def summary(self) -> dict[str, Any]:
        counter = None
        if self.energy_first_mj is not None and self.energy_last_mj is not None:
            diff = self.energy_last_mj - self.energy_first_mj
            counter = diff / 1000 if diff >= 0 else None  # a wrapped/reset counter: integrate
        integrated = round(self.integrated_j, 3) if self.power.n else None
        if counter is not None:
            energy, source = round(counter, 3), "counter"
        elif integrated is not None:
            energy, source = integrated, "integrated power"
        else:
            energy, source = None, None
        return {
            "index": self.index,
            "name": self.name,
            "power_avg_w": self.power.avg(),
            "power_peak_w": self.power.max(),
            "energy_j": energy,
            "energy_source": source,
            "energy_integrated_j": integrated,
            "util_avg_pct": self.util.avg(),
            "util_peak_pct": self.util.max(),
            "mem_util_avg_pct": self.mem_util.avg(),
            "temperature_avg_c": self.temp.avg(),
            "temperature_peak_c": self.temp.max(),
            "sm_clock_avg_mhz": self.sm_clock.avg(0),
            "mem_used_peak_mib": self.mem_used.max(0),
        }


def read_cpu_times(text: str | None = None) -> tuple[int, int] | None:
    """(busy, total) jiffies from the ``cpu`` line of ``/proc/stat`` (guest time is already in
    user time, so it is not added again)."""
    try:
        text = Path("/proc/stat").read_text() if text is None else text
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("cpu "):
            vals = [int(v) for v in line.split()[1:]]
            total = sum(vals[:8])  # user nice system idle iowait irq softirq steal
            idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
            return total - idle, total
    return None


def read_memory_mib(text: str | None = None) -> tuple[float, float] | None:
    """(used, total) MiB from ``/proc/meminfo``: used = MemTotal - MemAvailable."""
    try:
        text = Path("/proc/meminfo").read_text() if text is None else text
    except OSError:
        return None
    vals: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("MemTotal", "MemAvailable", "MemFree") and rest.split():
            vals[key] = int(rest.split()[0])
    if "MemTotal" not in vals:
        return None
    avail = vals.get("MemAvailable", vals.get("MemFree", 0))
    return (vals["MemTotal"] - avail) / 1024, vals["MemTotal"] / 1024


def gpu_indices_for(device: str) -> tuple[int, ...] | None:
    """The GPUs a ``--device`` string runs on, as NVML indices (the CUDA indices, which match
    while CUDA_VISIBLE_DEVICES does not reorder them): () for cpu, None for cuda:all."""
    from inferlab.config.devices import parse_devices

    spec = parse_devices(device)
    if spec.kind == "cpu":
        return ()
    if spec.all_devices:
        return None
    return spec.indices if spec.indices is not None else (0,)


class TelemetrySampler:
    """Samples GPU (NVML) and CPU telemetry in a thread into ``csv_path``; a context manager.

    ``nvml``: the NVML module to use (tests inject a fake); None imports ``pynvml``.
    ``counted_gpus``: the GPUs whose energy is the run's (None: all; () for a CPU run).
    """

    def __init__(
        self,
        csv_path: Path,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        nvml: ModuleType | None = None,
        counted_gpus: tuple[int, ...] | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self.csv_path = csv_path
        self.interval_s = interval_s
        self.counted_gpus = counted_gpus
        self._nvml = nvml
        self._gpus: list[_GpuState] | None = None
        self.gpu_reason: str | None = None
        self.cpu_reason: str | None = None
        self._cpu_util = _Stat()
        self._mem_used = _Stat()
        self._mem_total: float | None = None
        self._cpu_prev: tuple[int, int] | None = None
        self._fh: IO[str] | None = None
        self._writer: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._t0 = 0.0
        self._t_last = 0.0
        self.ticks = 0
        self._errors: list[str] = []
        self.started = False

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> TelemetrySampler:
        """Open telemetry.csv, take the first reading, start the thread (never raises)."""
        if self.started:
            return self
        self.started = True
        try:
            self._init_gpus()
            self._cpu_prev = read_cpu_times()
            if self._cpu_prev is None:
                self.cpu_reason = "/proc/stat not readable (not Linux?)"
            self._fh = open(self.csv_path, "w", newline="", encoding="utf-8")  # noqa: SIM115
            self._writer = csv.writer(self._fh)
            self._writer.writerow(COLUMNS)
            self._t0 = time.monotonic()
            self._sample()
            self._thread = threading.Thread(
                target=self._loop, name="inferlab-telemetry", daemon=True
            )
            self._thread.start()
        except Exception as exc:  # telemetry must never stop a run
            log.warning("telemetry not started: %s", exc)
            self._errors.append(f"start: {exc}")
        return self

    def stop(self) -> dict[str, Any] | None:
        """Stop the thread, take a last reading, close the file; the summary (None if never
        started)."""
        if not self.started:
            return None
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, 4 * self.interval_s))
            if self._thread.is_alive():
                log.warning("the telemetry thread did not stop in time")
        try:
            alive = self._thread is not None and self._thread.is_alive()
            if self._writer is not None and not alive and time.monotonic() - self._t_last > 0.01:
                self._sample()
        except Exception as exc:
            self._errors.append(f"last sample: {exc}")
        finally:
            if self._fh is not None:
                try:
                    self._fh.close()  # flushes: a full disk must not stop the run here either
                except OSError as exc:
                    self._errors.append(f"telemetry.csv not complete: {exc}")
                self._fh = None
            if self._gpus is not None and self._nvml is not None:
                try:
                    self._nvml.nvmlShutdown()
                except Exception:
                    pass
        return self.summary()

    def __enter__(self) -> TelemetrySampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- sampling --------------------------------------------------------------------------
    def _init_gpus(self) -> None:
        nvml = self._nvml
        if nvml is None:
            try:
                nvml = importlib.import_module("pynvml")
            except ImportError:
                self.gpu_reason = f"{NO_GPU} (pynvml from nvidia-ml-py is not installed)"
                return
        try:
            nvml.nvmlInit()
        except Exception as exc:
            self.gpu_reason = f"{NO_GPU} ({exc})"
            return
        self._nvml = nvml
        try:
            gpus = []
            for i in range(int(nvml.nvmlDeviceGetCount())):
                h = nvml.nvmlDeviceGetHandleByIndex(i)
                name = nvml.nvmlDeviceGetName(h)
                name = name.decode() if isinstance(name, bytes) else str(name)
                gpus.append(_GpuState(index=i, name=name, handle=h))
        except Exception as exc:
            self.gpu_reason = f"{NO_GPU} ({exc})"
            gpus = []
        if not gpus:
            self.gpu_reason = self.gpu_reason or f"{NO_GPU} (NVML found no device)"
            try:
                nvml.nvmlShutdown()
            except Exception:
                pass
            return
        self._gpus = gpus

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._sample()
            except Exception as exc:  # keep sampling; report once per kind
                msg = f"{type(exc).__name__}: {exc}"
                if msg not in self._errors:
                    log.warning("telemetry sample failed: %s", msg)
                    self._errors.append(msg)

    def _read(self, g: _GpuState, key: str, call: Any) -> float | None:
        if key in g.unsupported:
            return None
        try:
            return float(call())
        except Exception:  # NVML_ERROR_NOT_SUPPORTED and friends: stop asking
            g.unsupported.add(key)
            return None

    def _sample(self) -> None:
        now = time.monotonic()
        elapsed = round(now - self._t0, 3)
        stamp = now_iso()
        rows: list[list[Any]] = []
        cur = read_cpu_times()
        util = None
        if cur is not None and self._cpu_prev is not None:
            d_total = cur[1] - self._cpu_prev[1]
            if d_total > 0:
                util = round(100.0 * (cur[0] - self._cpu_prev[0]) / d_total, 2)
        if cur is not None:
            self._cpu_prev = cur
        mem = read_memory_mib()
        if mem is not None:
            self._mem_total = mem[1]
        self._cpu_util.add(util)
        self._mem_used.add(mem[0] if mem else None)
        if cur is not None or mem is not None:
            used = round(mem[0], 1) if mem else None
            rows.append([stamp, elapsed, "cpu", util, used, *([None] * 6)])
        for g in self._gpus or []:
            rows.append([stamp, elapsed, *self._sample_gpu(g, now)])
        for row in rows:
            self._writer.writerow(["" if v is None else v for v in row])
        if self._fh is not None:
            self._fh.flush()
        self._t_last = now
        self.ticks += 1

    def _sample_gpu(self, g: _GpuState, now: float) -> list[Any]:
        nv, h = self._nvml, g.handle
        assert nv is not None
        temp_kind = getattr(nv, "NVML_TEMPERATURE_GPU", _TEMPERATURE_GPU)
        sm_kind = getattr(nv, "NVML_CLOCK_SM", _CLOCK_SM)
        mem_kind = getattr(nv, "NVML_CLOCK_MEM", _CLOCK_MEM)
        mw = self._read(g, "power", lambda: nv.nvmlDeviceGetPowerUsage(h))
        energy = self._read(g, "energy", lambda: nv.nvmlDeviceGetTotalEnergyConsumption(h))
        temp = self._read(g, "temp", lambda: nv.nvmlDeviceGetTemperature(h, temp_kind))
        sm = self._read(g, "sm_clock", lambda: nv.nvmlDeviceGetClockInfo(h, sm_kind))
        memclk = self._read(g, "mem_clock", lambda: nv.nvmlDeviceGetClockInfo(h, mem_kind))
        rates = None
        if "util" not in g.unsupported:
            try:
                rates = nv.nvmlDeviceGetUtilizationRates(h)
            except Exception:
                g.unsupported.add("util")
        used = self._read(g, "mem_used", lambda: nv.nvmlDeviceGetMemoryInfo(h).used / 2**20)
        watts = mw / 1000 if mw is not None else None
        util = float(rates.gpu) if rates is not None else None
        mem_util = float(rates.memory) if rates is not None else None
        if watts is not None:
            if g.last_power is not None:
                t_prev, w_prev = g.last_power
                g.integrated_j += (w_prev + watts) / 2 * (now - t_prev)
            g.last_power = (now, watts)
        if energy is not None:
            if g.energy_first_mj is None:
                g.energy_first_mj = energy
            g.energy_last_mj = energy
        g.power.add(watts)
        g.util.add(util)
        g.mem_util.add(mem_util)
        g.temp.add(temp)
        g.sm_clock.add(sm)
        g.mem_used.add(used)
        return [
            f"gpu{g.index}",
            util,
            round(used, 1) if used is not None else None,
            round(watts, 3) if watts is not None else None,
            int(energy) if energy is not None else None,
            temp,
            sm,
            memclk,
            mem_util,
        ]

    # -- summary ---------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Averages and peaks over the samples so far (the stored telemetry section)."""
        cpu = None
        if self._cpu_util.n or self._mem_used.n:
            cpu = {
                "util_avg_pct": self._cpu_util.avg(),
                "util_peak_pct": self._cpu_util.max(),
                "mem_used_peak_mib": self._mem_used.max(0),
                "mem_total_mib": round(self._mem_total) if self._mem_total else None,
            }
        gpus = [g.summary() for g in self._gpus] if self._gpus else None
        counted = None
        energy = None
        if gpus is not None:
            wanted = self.counted_gpus
            counted = [g["index"] for g in gpus if wanted is None or g["index"] in wanted]
            parts = [g["energy_j"] for g in gpus if g["index"] in counted]
            energy = round(sum(parts), 3) if parts and None not in parts else None
        return {
            "file": self.csv_path.name,
            "interval_s": self.interval_s,
            "ticks": self.ticks,
            "window_s": round(self._t_last - self._t0, 3) if self.ticks else 0.0,
            "window": "from the start of the LoadGen test to the worker's exit",
            "cpu": cpu,
            "cpu_reason": None if cpu else self.cpu_reason or "no CPU reading",
            "gpu": gpus,
            "gpu_reason": None if gpus else self.gpu_reason or NO_GPU,
            "counted_gpus": counted,
            "energy_j": energy,
            "errors": list(self._errors),
        }


def with_samples(summary: dict[str, Any] | None, samples: int | None) -> dict[str, Any] | None:
    """Add joules per sample (per GPU and over the counted GPUs) from the run's sample count
    (``result["result"]["counts"]["samples"]``)."""
    if summary is None:
        return None
    n = samples if isinstance(samples, int) and samples > 0 else None

    def per_sample(energy: Any) -> float | None:
        return round(energy / n, 6) if n and isinstance(energy, int | float) else None

    out = dict(summary)
    out["samples"] = n
    out["joules_per_sample"] = per_sample(out.get("energy_j")) if out.get("counted_gpus") else None
    if out.get("gpu"):
        out["gpu"] = [{**g, "joules_per_sample": per_sample(g.get("energy_j"))} for g in out["gpu"]]
    return out
