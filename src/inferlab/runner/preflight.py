"""``inferlab check [BENCHMARK]``: preflight in seconds, each failed check with its fix.

Checks, in order: Python; LoadGen (installed, which round it serves); the backend's libraries
(torch, CUDA, driver, GPU memory; onnxruntime); disk space under the data root for what is still
missing plus the preprocessed cache; the benchmark's dataset and model files against the
manifest of what ``inferlab prepare`` verified (size + mtime + file count; ``verify_full``
re-hashes). ``inferlab run`` runs the data checks of its benchmark first (``run_checks``).
"""

from __future__ import annotations

import importlib.util
import logging
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail | skip
    detail: str
    fix: str = ""


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    def add(self, name: str, status: str, detail: str, fix: str = "") -> None:
        self.checks.append(Check(name, status, detail, fix))

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [asdict(c) for c in self.checks]}


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} TB"


def check_python(r: Report) -> None:
    v = sys.version_info
    if (v.major, v.minor) in ((3, 11), (3, 12)):
        r.add("python", OK, platform.python_version())
    else:
        r.add(
            "python",
            WARN,
            f"{platform.python_version()} (tested: 3.11, 3.12)",
            "use Python 3.11 or 3.12",
        )


def check_loadgen(r: Report) -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("mlcommons-loadgen")
    except PackageNotFoundError:
        r.add(
            "loadgen",
            FAIL,
            "mlcommons-loadgen is not installed",
            "pip install mlcommons-loadgen (6.0.17 serves round v6.1)",
        )
        return
    from inferlab.core.errors import ConfigError
    from inferlab.loadgen.probe import probe_round, resolve_round

    try:
        rnd = resolve_round(probe_round())
    except ConfigError as exc:
        r.add("loadgen", FAIL, f"mlcommons-loadgen {v}: {exc.message}", exc.fix)
        return
    r.add("loadgen", OK, f"mlcommons-loadgen {v} (round {rnd}, from the seeds it applies)")


def _driver_version() -> str | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout else None


def check_torch(r: Report, device: str) -> None:
    if importlib.util.find_spec("torch") is None:
        r.add("torch", FAIL, "PyTorch is not installed", "pip install 'inferlab[torch]'")
        return
    import torch

    r.add("torch", OK, f"torch {torch.__version__}")
    wants_cuda = device.startswith("cuda")
    if not torch.cuda.is_available():
        status = FAIL if wants_cuda else SKIP
        r.add(
            "cuda",
            status,
            f"no CUDA GPU visible to torch {torch.__version__}",
            "use --device cpu, or a CUDA build of torch on a GPU machine" if wants_cuda else "",
        )
        return
    n = torch.cuda.device_count()
    names = ", ".join(torch.cuda.get_device_name(i) for i in range(n))
    r.add(
        "cuda",
        OK,
        f"CUDA {torch.version.cuda}, driver {_driver_version() or '?'}, {n} GPU(s): {names}",
    )
    for i in range(n):
        free, total = torch.cuda.mem_get_info(i)
        status = OK if free > 0.5 * total else WARN
        r.add(
            f"gpu{i} memory",
            status,
            f"{_human(free)} free of {_human(total)}",
            "other processes hold GPU memory; stop them for a clean run" if status == WARN else "",
        )


def check_onnxruntime(r: Report) -> None:
    if importlib.util.find_spec("onnxruntime") is None:
        r.add("onnxruntime", FAIL, "onnxruntime is not installed", "pip install 'inferlab[onnx]'")
        return
    import onnxruntime as ort

    r.add(
        "onnxruntime",
        OK,
        f"onnxruntime {ort.__version__}: {', '.join(ort.get_available_providers())}",
    )


def check_data(r: Report, benchmark: str, root: Path | None, *, verify_full: bool = False) -> None:
    """Dataset and model files of ``benchmark`` under ``root`` against the manifest, and the
    disk space still needed."""
    from inferlab.data.manifest import Manifest
    from inferlab.data.sources import sources_for

    bs = sources_for(benchmark)
    if root is None:
        r.add(
            "data root",
            WARN,
            "no data root (--data-dir / INFERLAB_DATA_DIR)",
            f"runs use synthetic data; for real data: inferlab prepare {benchmark} --data-dir ROOT",
        )
        return
    if not root.is_dir():
        r.add(
            "data root",
            FAIL,
            f"{root} does not exist",
            f"create it, or run inferlab prepare {benchmark} --data-dir {root}",
        )
        return
    manifest = Manifest.load(root)
    missing_bytes = 0
    unknown = False
    for src in bs.sources:
        entry = manifest.get(src.id)
        if entry is None:
            if src.size_bytes is None:
                unknown = True
            else:
                missing_bytes += src.size_bytes
            how = "manual steps" if src.acquisition == "manual" else "a download"
            r.add(
                src.id,
                FAIL if src.kind in ("dataset", "model") else WARN,
                f"not prepared ({how})",
                f"inferlab prepare {benchmark} --data-dir {root}"
                + (" --from PATH" if src.importer is not None else ""),
            )
            continue
        res = manifest.full_check(entry) if verify_full else manifest.quick_check(entry)
        if res.ok:
            kind = "re-hashed" if verify_full else "size/mtime/count"
            r.add(src.id, OK, f"verified {entry.verified_at} ({kind} unchanged)")
        else:
            r.add(
                src.id,
                FAIL,
                res.detail,
                f"inferlab prepare {benchmark} --data-dir {root} (re-verifies or re-fetches it)",
            )
    cache = bs.preprocessed_cache_bytes()  # what the benchmark declares it caches
    need = missing_bytes + cache
    free = shutil.disk_usage(root).free
    detail = f"{_human(free)} free; still needed: {_human(missing_bytes)} data"
    detail += " (+ sizes unknown)" if unknown else ""
    detail += f", {_human(cache)} preprocessed cache" if cache else ""
    if free < need:
        r.add("disk space", FAIL, detail, f"free {_human(need - free)} under {root}")
    else:
        r.add("disk space", OK, detail)


def preflight(
    benchmark: str | None,
    *,
    data_dir: Path | None,
    backend: str = "torch",
    device: str = "cpu",
    verify_full: bool = False,
) -> Report:
    r = Report()
    check_python(r)
    check_loadgen(r)
    from inferlab.backends.registry import section_class

    # the libraries the backend's section says it needs, each checked by its own check
    library_checks = {
        "torch": lambda: check_torch(r, device),
        "onnxruntime": lambda: check_onnxruntime(r),
    }
    for library in section_class(backend).requires:
        library_checks[library]()
    if benchmark is not None:
        check_data(r, benchmark, data_dir, verify_full=verify_full)
    return r


def run_checks(data_dir: Path | None, paths: list[Path | None]) -> dict[str, str]:
    """What ``inferlab run`` checks before it starts: each dataset/model path under the data
    root that ``prepare`` recorded must be unchanged (size, mtime, file count: a stat walk).
    Raises DataError for a changed or damaged one; returns {path: status} for result facts
    ("verified <date>" or "not recorded by inferlab prepare")."""
    from inferlab.core.errors import DataError
    from inferlab.data.manifest import Manifest

    out: dict[str, str] = {}
    if data_dir is None or not (data_dir / ".inferlab" / "manifest.json").is_file():
        return out
    manifest = Manifest.load(data_dir)
    by_path = {}
    for entry in manifest.entries.values():
        by_path[(data_dir / entry.path).resolve()] = entry
    for path in paths:
        if path is None:
            continue
        here = path.resolve()
        # the entry for the path itself, or those recorded inside it (a dataset folder whose
        # files were fetched one by one)
        entries = [e for p, e in by_path.items() if p == here or here in p.parents]
        if not entries:
            out[str(path)] = "not recorded by inferlab prepare"
            continue
        for entry in entries:
            res = manifest.quick_check(entry)
            if not res.ok:
                raise DataError(
                    f"{data_dir / entry.path} changed since `inferlab prepare` verified it: "
                    f"{res.detail}",
                    "run `inferlab prepare` again (or `inferlab check --verify-full`) before "
                    "running",
                )
        out[str(path)] = "verified " + min(e.verified_at for e in entries)
    return out
