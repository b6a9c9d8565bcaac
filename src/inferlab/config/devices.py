"""``--device``: one device, or one model replica per device.

    cpu, cuda, cuda:N        one replica
    cuda:0,1,3               one replica per listed GPU
    cuda:all                 one replica per visible GPU (resolved in the worker)
    cpu:0,1                  two replicas on the CPU (the several-device logic without GPUs;
                             they share the CPU's cores)

Torch-free: the worker resolves ``cuda:all`` with the device count it sees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from inferlab.core.errors import ConfigError

DEVICE_PATTERN = re.compile(r"^(cpu|cuda)(?::(all|\d+(?:,\d+)*))?$")
_FIX = "use --device cpu, cuda, cuda:N, cuda:0,1,... or cuda:all (cpu:0,1 for CPU replicas)"


@dataclass(frozen=True)
class DeviceSpec:
    kind: str  # "cpu" | "cuda"
    indices: tuple[int, ...] | None  # None: the default device (or all, see all_devices)
    all_devices: bool = False

    @property
    def multi(self) -> bool:
        return self.all_devices or (self.indices is not None and len(self.indices) > 1)

    def replicas(self, available: int | None = None) -> list[str]:
        """Device strings of the replicas, one per replica, in order. ``available``: how many
        CUDA devices this process sees (needed for cuda:all and to check indices)."""
        if self.kind == "cpu":
            return ["cpu"] * (len(self.indices) if self.indices else 1)
        if self.all_devices:
            if not available:
                raise ConfigError("--device cuda:all: this machine has no CUDA device", _FIX)
            return [f"cuda:{i}" for i in range(available)]
        if self.indices is None:
            return ["cuda"]
        if available is not None:
            bad = [i for i in self.indices if i >= available]
            if bad:
                raise ConfigError(
                    f"--device cuda:{bad[0]} does not exist: this machine has {available} CUDA "
                    "device(s)",
                    f"use indices 0..{max(available - 1, 0)} or cuda:all",
                )
        return [f"cuda:{i}" for i in self.indices]

    def labels(self, available: int | None = None) -> list[str]:
        """Names of the replicas for reports: cuda:N, or cpu:K for CPU replicas."""
        devs = self.replicas(available)
        if self.kind == "cpu" and len(devs) > 1:
            return [f"cpu:{k}" for k in (self.indices or range(len(devs)))]
        return devs

    @property
    def first(self) -> str:
        """The device of the first replica as far as known without a device count."""
        if self.kind == "cpu":
            return "cpu"
        if self.all_devices:
            return "cuda:0"
        return "cuda" if self.indices is None else f"cuda:{self.indices[0]}"


def parse_devices(spec: str) -> DeviceSpec:
    m = DEVICE_PATTERN.match(spec.strip())
    if m is None:
        raise ConfigError(f"unknown device {spec!r}", _FIX)
    kind, rest = m.group(1), m.group(2)
    if rest is None:
        return DeviceSpec(kind, None)
    if rest == "all":
        if kind == "cpu":
            raise ConfigError("cpu:all is not a device list", "use cpu, or cpu:0,1 for replicas")
        return DeviceSpec(kind, None, all_devices=True)
    indices = tuple(int(x) for x in rest.split(","))
    if len(set(indices)) != len(indices):
        raise ConfigError(f"device {spec!r} lists a device twice", _FIX)
    return DeviceSpec(kind, indices)
