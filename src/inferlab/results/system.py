"""The system description: MLPerf's ``systems/<system>.json`` fields, captured from the machine.

:func:`capture_system` fills the 35 fields the submission checker requires
(``SYSTEM_DESC_REQUIRED_FIELDS``, rules file §2.5) from what the machine tells: CPU model, sockets
and cores (``/proc/cpuinfo``), memory (``/proc/meminfo``), disks (``/sys/block``), OS
(``/etc/os-release``), GPUs (NVML through ``pynvml``, else ``nvidia-smi``, else ``torch.cuda``
when torch is already imported), software versions (package metadata, no heavy imports).
What the machine cannot tell is ``""`` and listed in ``_unfilled``. A JSON file named by the
``INFERLAB_SYSTEM_JSON`` environment variable overrides any field (docs/metrics.md).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from inferlab.core.errors import ConfigError

log = logging.getLogger(__name__)

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

# Marketing memory sizes (GB) a GPU's reported total (GiB, a little under) is rounded up to.
_GPU_SIZES_GB: tuple[int, ...] = (4, 6, 8, 10, 11, 12, 16, 20, 24, 32, 40, 48, 64, 80, 94, 96)
_GPU_SIZES_GB += (141, 144, 180, 192, 256, 288)
# Driver names -> the part names MLPerf submissions use (NVIDIA's "H100-SXM-80GB" style).
_GPU_PARTS: tuple[tuple[str, str], ...] = (
    (r"\bGH200\b", "GH200"),
    (r"\bGB200\b", "GB200"),
    (r"\bH200\b.*\bNVL\b", "H200-NVL"),
    (r"\bH200\b", "H200-SXM"),
    (r"\bH100\b.*\bNVL\b", "H100-NVL"),
    (r"\bH100\b.*\bPCIe\b", "H100-PCIe"),
    (r"\bH100\b", "H100-SXM"),
    (r"\bA100\b.*\bPCIe\b", "A100-PCIe"),
    (r"\bA100\b", "A100-SXM"),
    (r"\bB200\b", "B200-SXM"),
)
_VENDOR_WORDS = {"nvidia", "tesla", "geforce"}


def sanitize_name(text: str) -> str:
    """A name usable inside a metric name: letters, digits, ``.``, ``+`` and ``-`` only (no
    spaces; ``_`` is the metric name's separator)."""
    out = re.sub(r"[^A-Za-z0-9.+-]+", "-", text.strip())
    return re.sub(r"-{2,}", "-", out).strip("-") or "unknown"


def gpu_memory_gb(memory_mib: float | None) -> int | None:
    """The marketing size of a GPU's memory from the total the driver reports (MiB)."""
    if not memory_mib:
        return None
    gib = memory_mib / 1024
    for size in _GPU_SIZES_GB:
        if size >= gib * 0.98:
            return size
    return round(gib)


def gpu_part_name(name: str, memory_mib: float | None) -> str:
    """``NVIDIA H100 80GB HBM3`` (81559 MiB) -> ``H100-SXM-80GB``; unknown parts keep their
    words: ``NVIDIA L4`` (23034 MiB) -> ``L4-24GB``."""
    size = gpu_memory_gb(memory_mib)
    if size is None and (m := re.search(r"(\d+)\s*GB", name, re.I)):
        size = int(m.group(1))
    part = next((p for rx, p in _GPU_PARTS if re.search(rx, name, re.I)), None)
    if part is None:
        words = [
            w
            for w in re.split(r"[\s_]+", name)
            if w and w.lower() not in _VENDOR_WORDS and not re.fullmatch(r"\d+GB|HBM\d*e?", w, re.I)
        ]
        part = "-".join(words) or "GPU"
    return sanitize_name(f"{part}-{size}GB" if size else part)


def cpu_part_name(model: str) -> str:
    """``Intel(R) Xeon(R) Platinum 8480C CPU @ 2.00GHz`` -> ``Intel-Xeon-Platinum-8480C``."""
    text = re.sub(r"\((R|TM|C)\)", "", model, flags=re.I)
    text = re.sub(r"@.*$", "", text)
    text = re.sub(r"\b(\d+-Core|CPU|Processor)\b", "", text, flags=re.I)
    return sanitize_name(text)


def system_name(gpus: list[dict[str, Any]], cpu_model: str) -> str:
    """``<count>x<part>`` per GPU part (``1xH100-SXM-80GB``; mixed parts joined by ``+``), or
    ``cpu-<model>`` without GPUs."""
    if not gpus:
        return f"cpu-{cpu_part_name(cpu_model)}"
    counts: dict[str, int] = {}
    for g in gpus:
        part = gpu_part_name(str(g.get("name", "GPU")), g.get("memory_mib"))
        counts[part] = counts.get(part, 0) + 1
    return "+".join(f"{n}x{part}" for part, n in counts.items())


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


def _gpus_nvml() -> tuple[list[dict[str, Any]], dict[str, str]] | None:
    try:
        import pynvml  # nvidia-ml-py (optional)
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError: no driver / no GPU
        log.debug("NVML unavailable: %s", exc)
        return None
    try:
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            g: dict[str, Any] = {
                "index": i,
                "name": name.decode() if isinstance(name, bytes) else str(name),
                "memory_mib": pynvml.nvmlDeviceGetMemoryInfo(h).total / 2**20,
            }
            for key, call in (
                ("max_sm_clock_mhz", lambda h=h: pynvml.nvmlDeviceGetMaxClockInfo(h, 1)),
                ("pcie_gen", lambda h=h: pynvml.nvmlDeviceGetMaxPcieLinkGeneration(h)),
                ("pcie_width", lambda h=h: pynvml.nvmlDeviceGetMaxPcieLinkWidth(h)),
            ):
                try:
                    g[key] = call()
                except Exception:  # not supported on this part / fake module
                    pass
            gpus.append(g)
        facts: dict[str, str] = {}
        try:
            drv = pynvml.nvmlSystemGetDriverVersion()
            facts["driver"] = drv.decode() if isinstance(drv, bytes) else str(drv)
            cuda = int(pynvml.nvmlSystemGetCudaDriverVersion())
            facts["cuda"] = f"{cuda // 1000}.{cuda % 1000 // 10}"
        except Exception:
            pass
        return gpus, facts
    except Exception as exc:
        log.warning("reading GPUs through NVML failed: %s", exc)
        return None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


_SMI_QUERY = (
    "index,name,memory.total,driver_version,clocks.max.sm,pcie.link.gen.max,pcie.link.width.max"
)


def _num(cols: list[str], i: int) -> int | None:
    ok = len(cols) > i and cols[i].replace(".", "", 1).isdigit()
    return int(float(cols[i])) if ok else None


def parse_nvidia_smi(text: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Parse ``nvidia-smi --query-gpu=<_SMI_QUERY> --format=csv,noheader,nounits`` output."""
    gpus: list[dict[str, Any]] = []
    facts: dict[str, str] = {}
    for line in text.strip().splitlines():
        cols = [c.strip() for c in line.split(",")]
        if len(cols) < 3 or not cols[0].isdigit():
            continue

        g: dict[str, Any] = {"index": int(cols[0]), "name": cols[1], "memory_mib": _num(cols, 2)}
        for key, i in (("max_sm_clock_mhz", 4), ("pcie_gen", 5), ("pcie_width", 6)):
            if (v := _num(cols, i)) is not None:
                g[key] = v
        gpus.append(g)
        if len(cols) > 3 and cols[3]:
            facts["driver"] = cols[3]
    return gpus, facts


def _gpus_smi() -> tuple[list[dict[str, Any]], dict[str, str]] | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, f"--query-gpu={_SMI_QUERY}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=15,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("nvidia-smi failed: %s", exc)
        return None
    return parse_nvidia_smi(out.stdout) if out.returncode == 0 else None


def _gpus_torch() -> tuple[list[dict[str, Any]], dict[str, str]] | None:
    """Only when torch is already imported: importing it (and creating a CUDA context) in the
    supervisor would cost seconds and GPU memory for the whole run."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    gpus = []
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        gpus.append({"index": i, "name": p.name, "memory_mib": p.total_memory / 2**20})
    return gpus, {"cuda": str(torch.version.cuda or "")}


def detect_gpus() -> tuple[list[dict[str, Any]], dict[str, str], str]:
    """(GPUs, driver/CUDA facts, source): NVML, else nvidia-smi, else an imported torch."""
    for source, probe in (("nvml", _gpus_nvml), ("nvidia-smi", _gpus_smi), ("torch", _gpus_torch)):
        found = probe()
        if found is not None and found[0]:
            return found[0], found[1], source
    return [], {}, "none"


def framework(backend: str | None = None) -> str:
    """``inferlab <v>, PyTorch <v>, LoadGen <v>`` (the backend's framework when known)."""
    parts = [f"inferlab {_pkg('inferlab') or '?'}"]
    if backend in (None, "torch") and (tv := _pkg("torch")):
        parts.append(f"PyTorch {tv}")
    if backend == "onnxruntime":
        ort = _pkg("onnxruntime") or _pkg("onnxruntime-gpu")
        if ort:
            parts.append(f"ONNX Runtime {ort}")
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
