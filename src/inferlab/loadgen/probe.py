"""Which MLPerf round the installed LoadGen serves, read from the seeds it applies.

The version string is only a hint: PyPI releases of one series carry different rounds' seeds
(5.0.0-5.0.7 still carry v4.1's, 5.0.22+ already v5.1's, 6.0.3/6.0.4 v5.1's; docs/rounds.md).
The answer is what LoadGen itself loads: an empty user.conf goes through ``FromConfig`` once
and the three effective seeds are read back.

``python -m inferlab.loadgen.probe [--model M --scenario S]`` does that in a fresh process and
prints one JSON object. :func:`probe_round` runs it as a subprocess, so the calling process
never touches LoadGen's process-global count of config files (a second user.conf load in one
process logs an ERROR that fails a submission, rules file §1.1). :func:`resolve_round` turns
the result into the round a run is for, or refuses.

This module does not import ``mlperf_loadgen`` at import time; the helpers that take the
module as an argument are shared with ``adapter.configure()``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from inferlab.core.errors import ConfigError
from inferlab.core.rounds import round_for_seeds, round_for_version

Flavor = Literal["conf_type", "is_mlperf_conf", "plain"]
DOCS = "docs/rounds.md"
_INSTALL_FIX = (
    f"install one of the releases listed in {DOCS} (e.g. pip install "
    "mlcommons-loadgen==6.0.17 for v6.1)"
)
_EXIT_NO_LOADGEN = 3
# The mlperf.conf model key the probe loads settings for: the seeds are set for every model
# ("*.*.qsl_rng_seed" and its two siblings), so any key of the file serves; this one is in every
# round's file (rules file §1.3).
PROBE_MODEL = "resnet50"


@dataclass(frozen=True)
class RoundProbe:
    loadgen_version: str
    seeds: tuple[int, int, int]
    embedded_conf: bool  # seeds non-zero after FromConfig on an empty user.conf
    round: str | None  # round_for_seeds(seeds); None for zero or unknown seeds
    from_config: str = "conf_type"  # FromConfig's conf-kind parameter (from_config_flavor)
    python: str = ""  # the interpreter probed


# --- helpers that need the mlperf_loadgen module (called inside a LoadGen process) ---------


def from_config_flavor(lg: ModuleType) -> Flavor:
    """How this build's ``TestSettings.FromConfig`` tells user.conf from mlperf.conf.

    - ``conf_type`` (PyPI 5.0.6+): int, 1 = user.conf (loads the built-in file first, once per
      process), 0 = the built-in file only (path ignored), 2 = audit.config.
    - ``is_mlperf_conf`` (PyPI 4.1.2-5.0.5): bool, False = user.conf (loads the built-in file
      first, once per process), True = a file read with the seeds (4.1.2, 4.1.3 and 4.1.7
      read the given path; later builds ignore it and parse their built-in text).
    - ``plain`` (4.0 and older, source builds of the v4.1 tag): no third parameter, every
      call reads every key from the given path and nothing is built in.
    """
    doc = (getattr(lg.TestSettings.FromConfig, "__doc__", None) or "").split("\n", 1)[0]
    if "conf_type" in doc:
        return "conf_type"
    if "is_mlperf_conf" in doc:
        return "is_mlperf_conf"
    return "plain"


def read_seeds(settings: Any) -> tuple[int, int, int]:
    return (
        int(settings.qsl_rng_seed),
        int(settings.sample_index_rng_seed),
        int(settings.schedule_rng_seed),
    )


def load_user_conf(lg: ModuleType, settings: Any, path: str, model: str, scenario: str) -> int:
    """``FromConfig`` for a user.conf, in the build's own terms (counts as the one user.conf)."""
    flavor = from_config_flavor(lg)
    if flavor == "conf_type":
        return int(settings.FromConfig(path, model, scenario, conf_type=1))
    if flavor == "is_mlperf_conf":
        return int(settings.FromConfig(path, model, scenario, is_mlperf_conf=False))
    return int(settings.FromConfig(path, model, scenario))


def load_as_mlperf_conf(lg: ModuleType, settings: Any, path: str, model: str, scenario: str) -> int:
    """``FromConfig`` that reads ``path`` with the seed keys and without touching LoadGen's
    count of user.conf files. Only the ``is_mlperf_conf`` and ``plain`` builds can: a
    ``conf_type`` build reads the seeds from its built-in text alone."""
    flavor = from_config_flavor(lg)
    if flavor == "is_mlperf_conf":
        return int(settings.FromConfig(path, model, scenario, is_mlperf_conf=True))
    if flavor == "plain":
        return int(settings.FromConfig(path, model, scenario))
    raise ConfigError(
        "this LoadGen takes seeds only from its built-in mlperf.conf",
        "use the built-in mlperf.conf (no file is needed with this release)",
    )


def builtin_seeds(
    lg: ModuleType, model: str, scenario: str, empty_file: str
) -> tuple[int, int, int]:
    """The seeds of the build's built-in mlperf.conf (zeros when it has none), read on a
    scratch ``TestSettings`` without counting as a config file and without logging.

    ``empty_file`` must be an existing empty file: a 4.1.7 build reads the path it is given."""
    settings = lg.TestSettings()
    flavor = from_config_flavor(lg)
    if flavor == "conf_type":
        settings.FromConfig(empty_file, model, scenario, conf_type=0)
    elif flavor == "is_mlperf_conf":
        settings.FromConfig(empty_file, model, scenario, is_mlperf_conf=True)
    return read_seeds(settings)


def installed_version() -> str:
    try:
        return metadata.version("mlcommons-loadgen")
    except metadata.PackageNotFoundError:
        return "unknown"


# --- the probe process ---------------------------------------------------------------------


def _probe_here(model: str, scenario: str) -> dict[str, Any]:
    import mlperf_loadgen as lg

    with tempfile.TemporaryDirectory(prefix="inferlab-probe-") as tmp:
        user_conf = Path(tmp) / "user.conf"
        user_conf.write_text("")
        settings = lg.TestSettings()
        rc = load_user_conf(lg, settings, str(user_conf), model, scenario)
    if rc != 0:
        raise RuntimeError(f"FromConfig on an empty user.conf returned {rc}")
    seeds = read_seeds(settings)
    return {
        "loadgen_version": installed_version(),
        "seeds": list(seeds),
        "embedded_conf": any(seeds),
        "round": round_for_seeds(*seeds),
        "from_config": from_config_flavor(lg),
        "python": sys.executable,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m inferlab.loadgen.probe",
        description="Print the MLPerf round the installed LoadGen serves, from its seeds.",
    )
    ap.add_argument("--model", default=PROBE_MODEL, help="LoadGen config model key")
    ap.add_argument("--scenario", default="Offline")
    args = ap.parse_args(argv)
    try:
        import mlperf_loadgen  # noqa: F401
    except ImportError as exc:
        print(json.dumps({"error": "loadgen-missing", "message": str(exc)}))
        return _EXIT_NO_LOADGEN
    print(json.dumps(_probe_here(args.model, args.scenario)))
    return 0


# --- the caller's side ---------------------------------------------------------------------

_MEMO: dict[tuple[str, str], RoundProbe] = {}
_MEMO_LOCK = threading.Lock()


def _probe_command(python: str, model: str, scenario: str) -> list[str]:
    """``python -m inferlab.loadgen.probe``; an interpreter of another environment must have
    inferlab installed there too (its own mlcommons-loadgen is the one probed)."""
    return [python, "-m", "inferlab.loadgen.probe", "--model", model, "--scenario", scenario]


def _version_of(python: str, timeout: float) -> str:
    if _same_interpreter(python):
        return installed_version()
    code = (
        "import importlib.metadata as m\n"
        "try: print(m.version('mlcommons-loadgen'))\n"
        "except m.PackageNotFoundError: print('unknown')\n"
    )
    try:
        out = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(
            f"cannot run {python} to probe LoadGen: {exc}", "check the Python interpreter path"
        ) from exc
    lines = out.stdout.strip().splitlines()
    return lines[-1] if out.returncode == 0 and lines else "unknown"


def _same_interpreter(python: str) -> bool:
    # no symlink resolution: a venv's python links to its base interpreter but sees other
    # site-packages, so the path itself names the environment
    return os.path.abspath(python) == os.path.abspath(sys.executable)


def _run_probe(python: str, timeout: float, model: str, scenario: str) -> RoundProbe:
    cmd = _probe_command(python, model, scenario)
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ConfigError(
            f"the LoadGen probe ({python}) did not finish in {timeout:g} s",
            "check that `python -c 'import mlperf_loadgen'` returns, then rerun",
        ) from exc
    except OSError as exc:
        raise ConfigError(
            f"cannot run {python} to probe LoadGen: {exc}", "check the Python interpreter path"
        ) from exc
    lines = [ln for ln in out.stdout.splitlines() if ln.strip().startswith("{")]
    payload: dict[str, Any] | None = None
    if lines:
        try:
            payload = json.loads(lines[-1])
        except json.JSONDecodeError:
            payload = None
    if out.returncode == _EXIT_NO_LOADGEN or (payload and payload.get("error")):
        raise ConfigError(
            f"mlcommons-loadgen is not installed for {python}",
            f"pip install mlcommons-loadgen (the release for each round is in {DOCS})",
        )
    if "No module named 'inferlab'" in out.stderr:
        raise ConfigError(
            f"inferlab is not installed for {python}",
            f"pip install inferlab into that environment (beside its mlcommons-loadgen; {DOCS})",
        )
    if out.returncode != 0 or payload is None:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        how = f"exit code {out.returncode}" if out.returncode >= 0 else f"signal {-out.returncode}"
        raise ConfigError(
            f"the LoadGen probe ({python}) failed ({how}): {tail}",
            "reinstall LoadGen: pip install --force-reinstall mlcommons-loadgen "
            f"(releases per round in {DOCS})",
        )
    try:
        seeds = tuple(int(s) for s in payload["seeds"])
        if len(seeds) != 3:
            raise ValueError("need three seeds")
        return RoundProbe(
            loadgen_version=str(payload["loadgen_version"]),
            seeds=(seeds[0], seeds[1], seeds[2]),
            embedded_conf=bool(payload["embedded_conf"]),
            round=payload.get("round"),
            from_config=str(payload.get("from_config", "conf_type")),
            python=python,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"the LoadGen probe ({python}) printed an unexpected answer: {lines[-1][:200]}",
            "run `python -m inferlab.loadgen.probe` by hand and report its output",
        ) from exc


def probe_round(
    python: str = sys.executable,
    timeout: float = 60,
    *,
    model: str = PROBE_MODEL,
    scenario: str = "Offline",
) -> RoundProbe:
    """Probe the LoadGen of ``python`` in a subprocess (memoised per interpreter and LoadGen
    version for the life of this process; nothing is cached on disk)."""
    key = (os.path.abspath(python), _version_of(python, timeout))
    with _MEMO_LOCK:
        hit = _MEMO.get(key)
    if hit is not None:
        return hit
    result = _run_probe(python, timeout, model, scenario)
    with _MEMO_LOCK:
        _MEMO[(key[0], result.loadgen_version)] = result
        _MEMO[key] = result
    return result


def clear_memo() -> None:
    with _MEMO_LOCK:
        _MEMO.clear()


def resolve_round(probe: RoundProbe) -> str:
    """The round a run with this LoadGen is for, or ConfigError.

    - built-in mlperf.conf with a known seed set: that seed set's round;
    - built-in mlperf.conf with an unknown seed set: refused (e.g. PyPI 5.0.8, whose seeds were
      corrected in the next release);
    - no built-in mlperf.conf: the round of the version string, if inferlab ships that round's
      mlperf.conf (inferlab.loadgen.mlperf_conf); otherwise refused.
    """
    from inferlab.loadgen import mlperf_conf

    v = probe.loadgen_version
    if probe.embedded_conf or any(probe.seeds):
        known = round_for_seeds(*probe.seeds)
        if known is not None:
            return known
        seeds = " / ".join(str(s) for s in probe.seeds)
        raise ConfigError(
            f"mlcommons-loadgen {v} applies the seeds {seeds}, which belong to no MLPerf "
            "round inferlab knows",
            _INSTALL_FIX,
        )
    by_version = round_for_version(v)
    if by_version is not None and mlperf_conf.for_round(by_version) is not None:
        return by_version
    have = ", ".join(mlperf_conf.rounds()) or "none"
    why = (
        f"inferlab has no mlperf.conf for {by_version} (it has: {have})"
        if by_version
        else "its version names no round inferlab knows"
    )
    raise ConfigError(
        f"mlcommons-loadgen {v} has no built-in mlperf.conf (its seeds are 0) and {why}",
        _INSTALL_FIX,
    )


def supply_mlperf_conf(
    directory: Path, loadgen_version: str, from_config: str = ""
) -> tuple[Path, str]:
    """For a LoadGen without a built-in mlperf.conf: write the mlperf.conf of the round it
    serves (by its version, :func:`resolve_round`) into ``directory``; its path and the round.
    ConfigError when inferlab has no file for it or a different ``mlperf.conf`` is in the
    way."""
    from inferlab.loadgen import mlperf_conf

    rnd = resolve_round(
        RoundProbe(
            loadgen_version=loadgen_version,
            seeds=(0, 0, 0),
            embedded_conf=False,
            round=None,
            from_config=from_config or "is_mlperf_conf",
        )
    )
    return mlperf_conf.place(directory, rnd), rnd


def as_dict(probe: RoundProbe) -> dict[str, Any]:
    d = asdict(probe)
    d["seeds"] = list(probe.seeds)
    return d


if __name__ == "__main__":
    sys.exit(main())
