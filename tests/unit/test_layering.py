"""Architecture convention 11, enforced: who may import what."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "inferlab"
HEAVY = {"torch", "torchvision", "onnxruntime", "ray", "httpx", "grpc", "cv2"}
HEAVY_ALLOWED = ("models", "backends")
# a benchmark package's network definition: imported lazily by its task, never by its spec
HEAVY_MODULES_IN_BENCHMARKS = ("model.py",)


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module, at_top_level) for every import in the file."""
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top))
    return found


def _pkg(path: Path) -> str:
    return path.relative_to(SRC).parts[0]


def test_only_loadgen_imports_mlperf_loadgen() -> None:
    offenders = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if _pkg(p) != "loadgen" and any(m.split(".")[0] == "mlperf_loadgen" for m, _ in _imports(p))
    ]
    assert offenders == []


def test_heavy_libraries_only_in_models_and_backends_at_top_level() -> None:
    offenders = []
    for p in SRC.rglob("*.py"):
        if _pkg(p) in HEAVY_ALLOWED:
            continue
        if _pkg(p) == "benchmarks" and p.name in HEAVY_MODULES_IN_BENCHMARKS:
            continue
        for mod, top in _imports(p):
            if mod.split(".")[0] in HEAVY and top:
                offenders.append(f"{p.relative_to(SRC)}: {mod}")
    assert offenders == []


def test_core_imports_no_sibling_package() -> None:
    offenders = []
    for p in (SRC / "core").rglob("*.py"):
        for mod, top in _imports(p):
            parts = mod.split(".")
            if parts[0] == "inferlab" and len(parts) > 1 and parts[1] != "core" and top:
                offenders.append(f"{p.name}: {mod}")
    assert offenders == []


def test_cli_config_and_benchmarks_do_not_import_torch() -> None:
    code = (
        "import sys\n"
        "import inferlab.cli.app, inferlab.config, inferlab.runner.api\n"
        "from inferlab.core import registry\n"
        "for b in registry.benchmark_ids():\n"
        "    registry.resolve(registry.get(b).task)\n"
        "heavy = sorted(m for m in ('torch', 'mlperf_loadgen', 'cv2') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
