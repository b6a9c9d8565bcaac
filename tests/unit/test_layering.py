"""Architecture convention 11, enforced: who may import what."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "inferlab"
HEAVY = {"torch", "torchvision", "onnxruntime", "ray", "httpx", "grpc", "cv2"}
HEAVY_ALLOWED = ("models", "backends", "generation")
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


# ---- no cycles, module size, no benchmark names outside their package (issue 14) -------------

MAX_MODULE_LINES = 500
# Files outside benchmarks/ that may name a benchmark: data tables of MLPerf facts and the
# registries' lines, each with why.
# (gptj by names only it has: "gptj"/"gpt-j" also name the GPT-J architecture, which the
# generation engine supports, not the benchmark)
BENCHMARK_NAMES = (
    "resnet", "imagenet", "bert", "squad", "llama3.1", "llama3_1", "cnn_eval", "gptj-99.9",
    "cnndm",
)  # fmt: skip
NAMED_FACT_TABLES = {
    "core/registry.py": "the registry's lines (id -> spec ref) and the default benchmark",
    "core/rounds.py": "the rounds' benchmark rules (checker names, targets, scenarios)",
    "loadgen/mlperf_conf.py": "mlperf.conf's per-model keys of the rounds without one built in",
    "loadgen/probe.py": "the mlperf.conf model key the round probe loads",
    "submission/compliance.py": "per-model audit.config values (the official test configs)",
    "data/sources.py": "the data-source tables' refs, one per benchmark family",
    "data/r2.py": "a real R2 listing as the example of the format it documents",
}


def _module_name(p: Path) -> str:
    parts = list(p.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    """module -> the inferlab modules it imports (in-function imports too)."""
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for m, p in modules.items():
        for node in ast.walk(ast.parse(p.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            graph[m].update(n for n in names if n in modules and n not in (m, "inferlab"))
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative enough here)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_two_modules_import_each_other_directly_or_in_a_loop() -> None:
    assert _cycles(_graph()) == []


def test_no_two_packages_import_each_other() -> None:
    packages: dict[str, set[str]] = {}
    for m, targets in _graph().items():
        a = m.split(".")[1] if "." in m else m
        for t in targets:
            b = t.split(".")[1] if "." in t else t
            if a != b:
                packages.setdefault(a, set()).add(b)
    assert _cycles(packages) == []


def test_submission_does_not_import_the_runner() -> None:
    offenders = [
        f"{m} -> {t}"
        for m, targets in _graph().items()
        if m.startswith("inferlab.submission")
        for t in targets
        if t.startswith("inferlab.runner")
    ]
    assert offenders == []


def test_every_module_is_under_the_line_limit() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_only_a_benchmark_s_package_and_the_fact_tables_name_it() -> None:
    """No branch on a benchmark's name outside its package: a file outside benchmarks/ that
    names one must be a table of MLPerf facts or a registry line (NAMED_FACT_TABLES)."""
    offenders = []
    for p in SRC.rglob("*.py"):
        rel = p.relative_to(SRC).as_posix()
        if rel.startswith("benchmarks/") or rel in NAMED_FACT_TABLES:
            continue
        text = p.read_text().lower()
        hits = [name for name in BENCHMARK_NAMES if name in text]
        if hits:
            offenders.append(f"{rel}: {', '.join(hits)}")
    assert offenders == []
    assert all((SRC / rel).is_file() for rel in NAMED_FACT_TABLES)


# The layers of docs/architecture-notes.md, top first: a package imports only the rows below it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli",),
    ("suite",),
    ("runner",),
    ("report", "submission"),
    ("results",),
    ("benchmarks",),
    ("loadgen",),
    ("config",),
    ("backends",),
    ("data", "models", "metrics", "preprocessing", "generation"),
    ("core",),
)


def test_every_import_goes_down_the_layers() -> None:
    row = {pkg: k for k, names in enumerate(LAYERS) for pkg in names}
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert packages == set(row), "a package is missing from LAYERS (docs/architecture-notes.md)"
    offenders = []
    for m, targets in _graph().items():
        if m.count(".") < 2:  # inferlab/__init__.py, __main__.py: above every package
            continue
        a = m.split(".")[1]
        for t in targets:
            b = t.split(".")[1]
            if a != b and row[b] <= row[a]:
                offenders.append(f"{m} -> {t}")
    assert offenders == []
