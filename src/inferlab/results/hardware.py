"""Hardware names and GPU detection for the system description (:mod:`inferlab.results.system`,
which re-exports these names): GPU and CPU part names as MLPerf submissions write them, and the
GPUs found through NVML (``pynvml``), else ``nvidia-smi``, else an already imported torch.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
from typing import Any

log = logging.getLogger(__name__)

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
