"""Run the official MLCommons submission checker on a tree; parse its log into a verdict shown
beside inferlab's own checker.

Entry points in a checkout of mlcommons/inference: the package
``tools/submission/submission_checker/`` (HEAD), run as ``python -m submission_checker.main`` from
``tools/submission``; the monolith ``tools/submission/submission_checker_old.py`` (HEAD) or
``tools/submission/submission_checker.py`` (tags up to v5.1.1), run as a script. The rounds and
flags each knows are read from its source (``MODEL_CONFIG`` keys, ``add_argument`` calls):
nothing of it is imported here, no flag it lacks is passed, and its failures become a status,
never an exception.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from inferlab.core.errors import ConfigError

Status = Literal["pass", "fail", "crashed", "unavailable", "timeout"]
Kind = Literal["package", "monolith"]

ENV_CHECKOUT = "INFERLAB_OFFICIAL_INFERENCE"
TAIL_LINES = 60
# import name -> pip name, where they differ
_PIP_NAMES = {"yaml": "pyyaml", "PIL": "pillow", "cv2": "opencv-python-headless"}
# modules that belong to the checker itself: missing means an incomplete checkout, not a pip install
_OWN_MODULES = {"submission_checker", "log_parser", "power", "inference", "tools"}

_LOG_LINE = re.compile(r"^\[[^\]]*?\b(DEBUG|INFO|WARNING|ERROR|CRITICAL)\]\s?(.*)$")
_PLAIN_LOG_LINE = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL):[\w.]+:(.*)$")
_COUNT = re.compile(r"([A-Za-z][A-Za-z ]*?)=(\d+)")
_COUNT_LINE = re.compile(r"^(?:(?:Closed|Open|Network) )?(?:Results|Systems)=\d+")
_NO_MODULE = re.compile(r"No module named '([\w.]+)'")
_VERSION = re.compile(r"v?(\d+)\.(\d+)")
_USAGE_ERROR = re.compile(r"^[\w.-]+: error: ")  # argparse: "<prog>: error: <why>"


@dataclass(frozen=True)
class OfficialChecker:
    """How to invoke one official checker entry point."""

    kind: Kind
    entry: Path  # main.py of the package, or the monolith .py file
    workdir: Path  # tools/submission: cwd and PYTHONPATH of the subprocess
    versions: tuple[str, ...]  # rounds it accepts for --version
    flags: frozenset[str]  # every --flag its argparse defines
    default_version: str | None = None
    python: str = sys.executable
    fallback: OfficialChecker | None = None  # the other entry point of the same checkout

    def supports(self, version: str) -> bool:
        return version in self.versions

    def describe(self) -> str:
        name = "submission_checker.main" if self.kind == "package" else self.entry.name
        return f"{self.kind} {name} at {self.workdir}"

    def base_command(self) -> list[str]:
        if self.kind == "package":
            return [self.python, "-m", "submission_checker.main"]
        return [self.python, str(self.entry)]


@dataclass(frozen=True)
class OfficialVerdict:
    """What the official checker said, parsed from its log."""

    status: Status
    checker: str
    version: str
    exit_code: int | None = None
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    summary: str | None = None  # its "SUMMARY: ..." line
    exception: str | None = None  # last exception line of a crash
    message: str | None = None  # why unavailable, what was dropped, what crashed first
    command: tuple[str, ...] = ()
    tail: tuple[str, ...] = ()
    csv_rows: int | None = None
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "pass"


def normalize_version(version: str) -> str:
    """'6.0', 'v6.0' -> 'v6.0'."""
    m = _VERSION.fullmatch(version.strip())
    if not m:
        raise ConfigError(f"bad MLPerf round {version!r}", "give it as vX.Y, e.g. v6.0")
    return f"v{m.group(1)}.{m.group(2)}"


def _model_config_versions(source: str) -> tuple[str, ...]:
    """The top-level keys of the ``MODEL_CONFIG = {`` literal in ``source``."""
    start = source.find("MODEL_CONFIG = {")
    if start < 0:
        return ()
    end = source.find("\n}", start)
    block = source[start : end if end > 0 else len(source)]
    return tuple(dict.fromkeys(re.findall(r'^    "(v\d+\.\d+)"\s*:', block, re.M)))


def _argparse_info(source: str) -> tuple[frozenset[str], str | None]:
    flags = frozenset(re.findall(r"""add_argument\(\s*["'](--[\w-]+)["']""", source))
    m = re.search(r"""["']--version["']\s*,\s*default\s*=\s*["'](v[\d.]+)["']""", source)
    return flags, (m.group(1) if m else None)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _entry(kind: Kind, entry: Path, constants: Path, python: str) -> OfficialChecker:
    flags, default = _argparse_info(_read(entry))
    versions = _model_config_versions(_read(constants))
    workdir = entry.parent.parent if kind == "package" else entry.parent
    return OfficialChecker(kind, entry, workdir, versions, flags, default, python)


def _candidates(path: Path, python: str) -> list[OfficialChecker]:
    if path.is_file():
        if path.name == "main.py" and (path.parent / "__init__.py").is_file():
            return [_entry("package", path, path.parent / "constants.py", python)]
        if path.suffix == ".py" and path.name.startswith("submission_checker"):
            return [_entry("monolith", path, path, python)]
        return []
    if (path / "main.py").is_file() and (path / "__init__.py").is_file():
        return [_entry("package", path / "main.py", path / "constants.py", python)]
    sub = path / "tools" / "submission"
    if sub.is_dir():
        path = sub
    found = []
    pkg = path / "submission_checker"
    if (pkg / "main.py").is_file():
        found.append(_entry("package", pkg / "main.py", pkg / "constants.py", python))
    for name in ("submission_checker_old.py", "submission_checker.py"):
        if (path / name).is_file():
            found.append(_entry("monolith", path / name, path / name, python))
    return found


def find_official_checker(
    path: Path | None, *, version: str | None = None, python: str | None = None
) -> OfficialChecker | None:
    """Resolve ``--official-checker PATH`` (a checkout of mlcommons/inference, its
    tools/submission folder, the package folder, its main.py or a monolith file) to an entry point.

    Prefers the package unless only the monolith knows ``version``; the other entry point of the
    same checkout becomes ``fallback``. Without ``path``: ``$INFERLAB_OFFICIAL_INFERENCE``, then an
    importable ``submission_checker`` package; None when neither exists. A ``path`` that holds no
    checker raises ConfigError.
    """
    py = python or sys.executable
    wanted = normalize_version(version) if version else None
    if path is None:
        env = os.environ.get(ENV_CHECKOUT)
        if env and Path(env).expanduser().exists():
            path = Path(env).expanduser()
        else:
            try:
                spec = importlib.util.find_spec("submission_checker")
            except (ImportError, ValueError):
                spec = None
            if spec is None or not spec.submodule_search_locations:
                return None
            path = Path(next(iter(spec.submodule_search_locations)))
    path = path.expanduser().resolve()
    if not path.exists():
        raise ConfigError(
            f"official checker path {path} does not exist",
            "pass a checkout of github.com/mlcommons/inference (or its tools/submission folder)",
        )
    found = _candidates(path, py)
    if not found:
        raise ConfigError(
            f"no MLCommons submission checker under {path}",
            "pass the root of an mlcommons/inference checkout, its tools/submission folder, "
            "or the submission_checker package / submission_checker*.py file",
        )
    if wanted:
        found.sort(key=lambda c: not c.supports(wanted))  # stable: package stays first on a tie
    best = found[0]
    others = [c for c in found[1:] if not wanted or c.supports(wanted)]
    return replace(best, fallback=others[0]) if others else best


def _exception_line(lines: Sequence[str]) -> str | None:
    """The final ``ExcType: message`` line of the last traceback in ``lines``."""
    starts = [i for i, ln in enumerate(lines) if ln.startswith("Traceback (most recent call last)")]
    if not starts:
        return None
    for ln in lines[starts[-1] + 1 :]:
        if ln.strip() and not ln[0].isspace():
            return ln.strip()
    return "traceback without an exception line"


def parse_output(
    text: str, exit_code: int | None, *, checker: str = "", version: str = ""
) -> OfficialVerdict:
    """Turn the checker's combined stdout+stderr and exit code into a verdict."""
    lines = text.splitlines()
    errors: list[str] = []
    warnings: list[str] = []
    counts: dict[str, int] = {}
    summary: str | None = None
    usage_error: str | None = None
    for ln in lines:
        m = _LOG_LINE.match(ln) or _PLAIN_LOG_LINE.match(ln)
        if not m:
            usage_error = ln.strip() if _USAGE_ERROR.match(ln) else usage_error
            continue
        level, msg = m.group(1), m.group(2).strip()
        if msg.startswith("SUMMARY:"):
            summary = msg
        elif level in ("ERROR", "CRITICAL"):
            errors.append(msg)
        elif level == "WARNING":
            warnings.append(msg)
        elif _COUNT_LINE.match(msg):
            for name, value in _COUNT.findall(msg):
                key = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name.strip()).replace(" ", "_")
                counts[key.lower()] = int(value)
    exception = _exception_line(lines)
    message: str | None = None
    status: Status
    if summary is not None and "looks OK" in summary and exit_code == 0:
        status = "pass"
    elif summary is not None and "has errors" in summary:
        status = "fail"
    elif exception is not None:
        m = _NO_MODULE.search(exception)
        top = m.group(1).split(".")[0] if m else ""
        if top and top not in _OWN_MODULES:
            status, message = "unavailable", f"needs {top}: pip install {_PIP_NAMES.get(top, top)}"
        elif top:
            status = "unavailable"
            message = f"the checker's own module {top!r} is missing: use a full checkout"
        else:
            status = "crashed"
    elif usage_error is not None and exit_code == 2:
        status, message = "unavailable", f"the checker refused its arguments: {usage_error}"
    elif exit_code is not None and exit_code < 0:
        status, exception = "crashed", f"killed by signal {-exit_code}"
    elif exit_code == 0 and not errors:
        status = "pass"
    else:
        status = "fail"
    return OfficialVerdict(
        status,
        checker,
        version,
        exit_code,
        tuple(errors),
        tuple(warnings),
        counts,
        summary,
        exception,
        message,
        tail=tuple(lines[-TAIL_LINES:]),
    )


def _filter_args(args: Sequence[str], known: frozenset[str]) -> tuple[list[str], list[str]]:
    """Keep the options the checker defines; a dropped option takes its value with it."""
    kept: list[str] = []
    dropped: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        name = arg.split("=", 1)[0]
        takes_next = "=" not in arg and i + 1 < len(args) and not args[i + 1].startswith("-")
        span = args[i : i + 2] if takes_next else args[i : i + 1]
        if name.startswith("--") and name not in known:
            dropped.append(" ".join(span))
        else:
            kept.extend(span)
        i += len(span)
    return kept, dropped


def _csv_rows(path: Path) -> int | None:
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as fh:
            return max(sum(1 for _ in csv.reader(fh)) - 1, 0)
    except OSError:
        return None


def _invoke(checker: OfficialChecker, cmd: list[str], timeout_s: float) -> tuple[str, int | None]:
    """Combined stdout+stderr and exit code; exit code None on a timeout. OSError if it cannot
    start."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}  # leave the user's checkout clean
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(checker.workdir), env.get("PYTHONPATH")]))
    try:
        proc = subprocess.run(
            cmd,
            cwd=checker.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.output
        return (out.decode(errors="replace") if isinstance(out, bytes) else out or ""), None
    return proc.stdout, proc.returncode


def _run_one(
    checker: OfficialChecker,
    tree: Path,
    submitter: str,
    ver: str,
    wanted: list[str],
    timeout_s: float,
    csv_out: Path | None,
) -> OfficialVerdict:
    name = checker.describe()
    if not checker.supports(ver):
        rounds = ", ".join(checker.versions) or "none found"
        why = f"this checker knows rounds {rounds}, not {ver}: use a checkout that has {ver}"
        return OfficialVerdict("unavailable", name, ver, message=why)
    kept, dropped = _filter_args(wanted, checker.flags)
    with tempfile.TemporaryDirectory(prefix="inferlab-official-") as tmp:
        out_csv = csv_out.resolve() if csv_out else Path(tmp) / "summary.csv"
        cmd = checker.base_command() + ["--input", str(tree), "--version", ver]
        cmd += ["--submitter", submitter] if "--submitter" in checker.flags else []
        cmd += ["--csv", str(out_csv)] if "--csv" in checker.flags else []
        cmd += kept
        started = time.monotonic()
        try:
            text, code = _invoke(checker, cmd, timeout_s)
        except OSError as exc:
            why = f"could not start {checker.python}: {exc}"
            return OfficialVerdict("unavailable", name, ver, command=tuple(cmd), message=why)
        verdict = parse_output(text, code, checker=name, version=ver)
        notes = [verdict.message] if verdict.message else []
        if code is None:
            verdict = replace(verdict, status="timeout")
            notes = [f"no verdict within {timeout_s:g} s"]
        if dropped:
            notes.append("not known to this checker, dropped: " + ", ".join(dropped))
        return replace(
            verdict,
            command=tuple(cmd),
            duration_s=time.monotonic() - started,
            csv_rows=_csv_rows(out_csv) if out_csv.exists() else None,
            message="; ".join(notes) or None,
        )


def run_official_checker(
    checker: OfficialChecker,
    tree: Path,
    *,
    submitter: str,
    version: str,
    extra_args: Sequence[str] = (),
    timeout_s: float = 600,
    skip_power_check: bool = False,
    allow_uncommitted_loadgen: bool = False,
    csv_out: Path | None = None,
    fallback: bool = True,
) -> OfficialVerdict:
    """Run ``checker`` on the submission ``tree`` (the folder holding closed/, open/, network/).

    Options in ``extra_args`` that this checker does not define are dropped and named in
    ``message``. ``allow_uncommitted_loadgen`` passes ``--submission-exceptions``,
    ``skip_power_check`` ``--skip-power-check``. If the checker crashes or cannot import a
    dependency and its checkout has another entry point for ``version``, that one is run too and
    its verdict returned, the first failure named in ``message``.
    """
    ver = normalize_version(version)
    tree = Path(tree).expanduser().resolve()
    if not tree.is_dir():
        raise ConfigError(f"submission tree {tree} is not a folder", "pass the submission root")
    if not submitter.strip() or "/" in submitter:
        raise ConfigError(f"bad submitter name {submitter!r}", "pass the organisation name")
    if timeout_s <= 0:
        raise ConfigError(f"timeout_s must be positive, got {timeout_s}")
    wanted = list(extra_args)
    wanted += ["--skip-power-check"] if skip_power_check else []
    wanted += ["--submission-exceptions"] if allow_uncommitted_loadgen else []
    csv_path = Path(csv_out).expanduser() if csv_out else None
    verdict = _run_one(checker, tree, submitter, ver, wanted, timeout_s, csv_path)
    fb = checker.fallback
    broken = verdict.status == "crashed" or (verdict.status == "unavailable" and verdict.exception)
    if broken and fallback and fb is not None and fb.supports(ver):
        second = _run_one(fb, tree, submitter, ver, wanted, timeout_s, csv_path)
        why = verdict.message or verdict.exception
        first = f"{verdict.checker} {verdict.status} ({why}); verdict from the {fb.kind}"
        return replace(second, message="; ".join(filter(None, [first, second.message])))
    return verdict


def render_verdict(v: OfficialVerdict, *, max_errors: int = 8) -> str:
    """A few lines for the terminal, meant to sit beside inferlab's own checker verdict."""
    code = "" if v.exit_code is None else f", exit {v.exit_code}"
    out = [f"Official MLCommons checker ({v.version}): {v.status.upper()}{code}"]
    if v.checker:
        out.append(f"  checker: {v.checker}")
    if v.counts:
        keys = ("results", "no_results", "power_results", "systems")
        shown = [f"{k.replace('_', ' ')} {v.counts[k]}" for k in keys if k in v.counts]
        out.append("  " + ", ".join(shown))
    if v.summary:
        out.append(f"  {v.summary}")
    if v.exception:
        out.append(f"  exception: {v.exception}")
    if v.message:
        out.append(f"  note: {v.message}")
    if v.errors or v.warnings:
        out.append(f"  {len(v.errors)} error(s), {len(v.warnings)} warning(s)")
        for line in v.errors[:max_errors]:
            out.append(f"    - {line if len(line) <= 200 else line[:197] + '...'}")
        if len(v.errors) > max_errors:
            out.append(f"    ... and {len(v.errors) - max_errors} more")
    if v.status in ("crashed", "timeout") and v.tail:
        out.append("  last lines:")
        out.extend(f"    {ln}" for ln in v.tail[-12:])
    return "\n".join(out)
