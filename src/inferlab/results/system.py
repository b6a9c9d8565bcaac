"""The system description: MLPerf's ``systems/<system>.json`` fields, captured from the machine.

:func:`capture_system` fills the 35 fields the submission checker requires
(``SYSTEM_DESC_REQUIRED_FIELDS``, rules file §2.5) from what the machine tells: CPU model, sockets
and cores (``/proc/cpuinfo``), memory (``/proc/meminfo``), disks (``/sys/block``), OS
(``/etc/os-release``), GPUs (NVML through ``pynvml``, else ``nvidia-smi``, else ``torch.cuda``
when torch is already imported), software versions (package metadata, no heavy imports).
What the machine cannot tell is ``""`` and listed in ``_unfilled``. A JSON file named by the
``INFERLAB_SYSTEM_JSON`` environment variable overrides any field (docs/metrics.md). Hardware
names and GPU detection live in :mod:`inferlab.results.hardware` and are re-exported here.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from inferlab.core.errors import ConfigError

# hardware names and GPU detection, importable from here (explicit re-exports)
from inferlab.results.hardware import cpu_part_name as cpu_part_name
from inferlab.results.hardware import detect_gpus as detect_gpus
from inferlab.results.hardware import gpu_memory_gb as gpu_memory_gb
from inferlab.results.hardware import gpu_part_name as gpu_part_name
from inferlab.results.hardware import parse_nvidia_smi as parse_nvidia_smi
from inferlab.results.hardware import sanitize_name as sanitize_name
from inferlab.results.hardware import system_name as system_name

ENV_SYSTEM_JSON = "INFERLAB_SYSTEM_JSON"

#: ``SYSTEM_DESC_REQUIRED_FIELDS`` of the submission checker, in its order.
REQUIRED_FIELDS: tuple[str, ...] = (
    "division",
    "submitter",
    "status",
    "system_name",
    "number_of_nodes",
    "host_processor_model_name",
    "host_processors_per_node",
    "host_processor_core_count",
    "host_memory_capacity",
    "host_storage_capacity",
    "host_storage_type",
    "accelerators_per_node",
    "accelerator_model_name",
    "accelerator_memory_capacity",
    "framework",
    "operating_system",
    "system_type",
    "other_software_stack",
    "host_processor_frequency",
    "host_processor_caches",
    "host_memory_configuration",
    "host_processor_interconnect",
    "host_networking",
    "host_networking_topology",
    "accelerator_frequency",
    "accelerator_host_interconnect",
    "accelerator_interconnect",
    "accelerator_interconnect_topology",
    "accelerator_memory_configuration",
    "accelerator_on-chip_memories",
    "cooling",
    "hw_notes",
    "sw_notes",
    "host_network_card_count",
    "system_type_detail",
)

#: ``SYSTEM_DESC_MEANINGFUL_RESPONSE_REQUIRED_FIELDS``: the 26 that must not be empty.
MEANINGFUL_FIELDS: tuple[str, ...] = (
    "division",
    "submitter",
    "system_type",
    "status",
    "system_name",
    "number_of_nodes",
    "host_processor_model_name",
    "host_processors_per_node",
    "host_processor_core_count",
    "host_memory_capacity",
    "host_memory_configuration",
    "host_storage_capacity",
    "host_storage_type",
    "host_networking",
    "host_network_card_count",
    "host_networking_topology",
    "accelerators_per_node",
    "accelerator_model_name",
    "accelerator_memory_capacity",
    "accelerator_host_interconnect",
    "accelerator_memory_configuration",
    "accelerator_interconnect",
    "cooling",
    "framework",
    "operating_system",
    "other_software_stack",
)


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def _pkg(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def cpu_facts(cpuinfo: str | None = None) -> dict[str, Any]:
    """Model, sockets, cores per socket and logical CPUs from ``/proc/cpuinfo`` text."""
    text = _read("/proc/cpuinfo") if cpuinfo is None else cpuinfo
    model = ""
    sockets: set[str] = set()
    cores: int | None = None
    logical = 0
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "processor":
            logical += 1
        elif key in ("model name", "Model Name") and not model:
            model = value
        elif key == "physical id":
            sockets.add(value)
        elif key == "cpu cores" and cores is None and value.isdigit():
            cores = int(value)
    logical = logical or (os.cpu_count() or 0)
    n_sockets = len(sockets) or 1
    return {
        "model": model or platform.processor() or "",
        "sockets": n_sockets,
        "cores_per_socket": cores if cores is not None else (logical // n_sockets or None),
        "logical": logical,
    }


def _cpu_frequency(model: str) -> str:
    khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").strip()
    if khz.isdigit():
        return f"{int(khz) / 1e6:.2f} GHz"
    m = re.search(r"@\s*([\d.]+\s*GHz)", model)
    return m.group(1) if m else ""


def _cpu_caches() -> str:
    parts = []
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for idx in sorted(base.glob("index*")) if base.is_dir() else []:
        level = _read(str(idx / "level")).strip()
        kind = _read(str(idx / "type")).strip()
        size = _read(str(idx / "size")).strip()
        if level and size:
            suffix = {"Data": "d", "Instruction": "i"}.get(kind, "")
            parts.append(f"L{level}{suffix} {size}")
    return ", ".join(parts) + " (cpu0, from sysfs)" if parts else ""


def _memory_gb(meminfo: str | None = None) -> str:
    text = _read("/proc/meminfo") if meminfo is None else meminfo
    m = re.search(r"^MemTotal:\s+(\d+)\s+kB", text, re.M)
    return f"{int(m.group(1)) / 1024**2:.0f} GB" if m else ""


def _storage() -> tuple[str, str]:
    total = 0
    kinds: set[str] = set()
    base = Path("/sys/block")
    for dev in sorted(base.iterdir()) if base.is_dir() else []:
        if dev.name.startswith(("loop", "ram", "zram", "dm-", "sr", "md", "nbd", "fd")):
            continue
        sectors = _read(str(dev / "size")).strip()
        if not sectors.isdigit() or int(sectors) == 0:
            continue
        total += int(sectors) * 512
        rotational = _read(str(dev / "queue" / "rotational")).strip()
        kinds.add(
            "NVMe SSD" if dev.name.startswith("nvme") else "HDD" if rotational == "1" else "SSD"
        )
    if not total:
        return "", ""
    cap = f"{total / 1e12:.1f} TB" if total >= 1e12 else f"{total / 1e9:.0f} GB"
    return cap, ", ".join(sorted(kinds))


def _os_name() -> str:
    text = _read("/etc/os-release")
    m = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', text, re.M)
    name = m.group(1) if m else f"{platform.system()} {platform.release()}".strip()
    return f"{name} (kernel {platform.release()})" if m else name


def framework(backend: str | None = None) -> str:
    """``inferlab <v>, PyTorch <v>, LoadGen <v>`` (the backend's framework when known)."""
    from inferlab.backends.registry import DEFAULT_BACKEND, find_section

    parts = [f"inferlab {_pkg('inferlab') or '?'}"]
    section = find_section(backend or DEFAULT_BACKEND)
    for label, dists in section.frameworks if section is not None else ():
        version = next(filter(None, map(_pkg, dists)), None)
        if version:
            parts.append(f"{label} {version}")
    parts.append(f"LoadGen {_pkg('mlcommons-loadgen') or '?'}")
    return ", ".join(parts)


def load_override(environ: Mapping[str, str] | None = None) -> tuple[dict[str, Any], str | None]:
    """The fields of the JSON file named by ``INFERLAB_SYSTEM_JSON`` (``{}`` when unset)."""
    env = os.environ if environ is None else environ
    path = env.get(ENV_SYSTEM_JSON, "").strip()
    if not path:
        return {}, None
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(
            f"{ENV_SYSTEM_JSON}={path}: cannot read it ({exc.strerror})",
            "point it at a systems/<system>.json file, or unset it",
        ) from exc
    except ValueError as exc:
        raise ConfigError(
            f"{ENV_SYSTEM_JSON}={path} is not valid JSON: {exc}", "fix the file"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"{ENV_SYSTEM_JSON}={path} holds a JSON {type(data).__name__}, not an object",
            'write one object of fields, e.g. {"submitter": "ACME", "division": "closed"}',
        )
    return {k: v for k, v in data.items() if not str(k).startswith("_")}, path


def capture_system(
    *, backend: str | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The system description of this machine, overridden by ``INFERLAB_SYSTEM_JSON``.

    Returns every field of :data:`REQUIRED_FIELDS`, plus ``_unfilled`` (fields still empty),
    ``_sources`` (where the GPU facts came from, the override file) and ``_gpus`` (per GPU).
    """
    override, override_path = load_override(environ)
    cpu = cpu_facts()
    gpus, gpu_facts, gpu_source = detect_gpus()
    storage_cap, storage_type = _storage()
    desc: dict[str, Any] = dict.fromkeys(REQUIRED_FIELDS, "")
    desc.update(
        system_name=system_name(gpus, cpu["model"]),
        number_of_nodes=1,
        host_processor_model_name=cpu["model"],
        host_processors_per_node=cpu["sockets"],
        host_processor_core_count=cpu["cores_per_socket"] or "",
        host_processor_frequency=_cpu_frequency(cpu["model"]),
        host_processor_caches=_cpu_caches(),
        host_memory_capacity=_memory_gb(),
        host_storage_capacity=storage_cap,
        host_storage_type=storage_type,
        accelerators_per_node=len(gpus),
        framework=framework(backend),
        operating_system=_os_name(),
    )
    stack = [f"Python {sys.version.split()[0]}"]
    if gpu_facts.get("driver"):
        stack.append(f"NVIDIA driver {gpu_facts['driver']}")
    if gpu_facts.get("cuda"):
        stack.append(f"CUDA {gpu_facts['cuda']}")
    stack += [f"{p} {v}" for p in ("numpy",) if (v := _pkg(p))]
    desc["other_software_stack"] = ", ".join(stack)
    if gpus:
        first = gpus[0]
        size = gpu_memory_gb(first.get("memory_mib"))
        desc["accelerator_model_name"] = str(first.get("name", ""))
        desc["accelerator_memory_capacity"] = f"{size} GB" if size else ""
        if first.get("max_sm_clock_mhz"):
            desc["accelerator_frequency"] = f"{first['max_sm_clock_mhz']} MHz"
        if first.get("pcie_gen") and first.get("pcie_width"):
            desc["accelerator_host_interconnect"] = (
                f"PCIe Gen{first['pcie_gen']} x{first['pcie_width']}"
            )
        m = re.search(r"HBM\d*e?|GDDR\d+X?", str(first.get("name", "")), re.I)
        if m:
            desc["accelerator_memory_configuration"] = m.group(0).upper()
    else:  # what CPU-only submissions write
        for key in (
            "accelerator_model_name",
            "accelerator_memory_capacity",
            "accelerator_frequency",
            "accelerator_host_interconnect",
            "accelerator_interconnect",
            "accelerator_interconnect_topology",
            "accelerator_memory_configuration",
            "accelerator_on-chip_memories",
        ):
            desc[key] = "N/A"
    desc.update(override)
    desc["_unfilled"] = [k for k in REQUIRED_FIELDS if desc.get(k) in ("", None)]
    desc["_sources"] = {"gpus": gpu_source, "override": override_path}
    desc["_gpus"] = gpus
    return desc


def metric_system_name(result: Mapping[str, Any]) -> str:
    """The system name metrics use: the result's system description, sanitized; for results
    without one, ``cpu-<model>`` from the environment section."""
    system = result.get("system") or {}
    if system.get("system_name"):
        return sanitize_name(str(system["system_name"]))
    cpu = ((result.get("environment") or {}).get("cpu") or {}).get("model") or "unknown"
    return f"cpu-{cpu_part_name(str(cpu))}"
