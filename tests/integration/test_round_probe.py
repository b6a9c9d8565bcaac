"""The round comes from the seeds LoadGen applies (inferlab.loadgen.probe), with the real
installed LoadGen in subprocesses; resolve_round on constructed probes for the other cases.

INFERLAB_EXTRA_LOADGEN_PYTHONS (interpreters separated by os.pathsep, each with another
mlcommons-loadgen release and inferlab installed) adds a probe of each; docs/rounds.md
lists what those releases answered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from inferlab.core.errors import ConfigError
from inferlab.core.rounds import SEEDS, round_for_seeds
from inferlab.loadgen import probe
from inferlab.loadgen.probe import RoundProbe, probe_round, resolve_round

SRC = Path(__file__).resolve().parents[2] / "src"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    return env


def test_installed_loadgen_serves_v61() -> None:
    if version("mlcommons-loadgen") != "6.0.17":
        pytest.skip("the expectations below are those of mlcommons-loadgen 6.0.17")
    probe.clear_memo()
    got = probe_round()
    assert got.loadgen_version == "6.0.17"
    assert got.seeds == SEEDS["v6.1"]
    assert got.embedded_conf is True
    assert got.round == "v6.1"
    assert got.from_config == "conf_type"
    assert resolve_round(got) == "v6.1"


def test_probe_is_memoised_within_the_process() -> None:
    first = probe_round()
    t0 = time.perf_counter()
    again = probe_round()
    assert again is first
    assert time.perf_counter() - t0 < 0.2  # no second LoadGen process


def test_cli_prints_one_json_object() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "inferlab.loadgen.probe",
            "--model",
            "llama2-70b",
            "--scenario",
            "Server",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
        check=True,
    )
    payload = json.loads(out.stdout)
    assert set(payload) >= {"loadgen_version", "seeds", "embedded_conf", "round"}
    assert payload["round"] == round_for_seeds(*payload["seeds"])
    assert payload["embedded_conf"] == any(payload["seeds"])


def test_configure_makes_one_user_conf_call_with_a_builtin_conf(tmp_path: Path) -> None:
    """In a fresh process: no mlperf.conf written, the built-in seeds applied, user.conf
    values on top."""
    (tmp_path / "user.conf").write_text("resnet50.Offline.min_query_count = 77\n")
    script = textwrap.dedent(
        f"""
        import json
        from pathlib import Path
        from inferlab.loadgen.adapter import TestSpec, configure
        run = Path({str(tmp_path)!r})
        s, load = configure(TestSpec(user_conf=run / "user.conf", model="resnet50",
            scenario="Offline", mode="performance", out_dir=run, total_count=10,
            performance_count=10, audit_config=None, trace=False))
        print(json.dumps({{"seeds": [s.qsl_rng_seed, s.sample_index_rng_seed,
            s.schedule_rng_seed], "mqc": s.min_query_count, "calls": list(load.calls),
            "embedded": load.embedded_conf, "supplied": load.mlperf_conf is not None}}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
        check=True,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    expected_round = probe_round().round
    assert expected_round is not None
    assert tuple(got["seeds"]) == SEEDS[expected_round]
    assert got["mqc"] == 77
    assert got["calls"] == ["user.conf"]
    assert got["embedded"] is True and got["supplied"] is False
    assert not (tmp_path / "mlperf.conf").exists()


# --- resolve_round on constructed probes -----------------------------------------------------


def test_seeds_decide_not_the_version() -> None:
    # PyPI 5.0.0 carries v4.1's seeds, 6.0.3 v5.1's (docs/rounds.md)
    assert resolve_round(RoundProbe("5.0.0", SEEDS["v4.1"], True, "v4.1")) == "v4.1"
    assert resolve_round(RoundProbe("6.0.3", SEEDS["v5.1"], True, "v5.1")) == "v5.1"
    assert resolve_round(RoundProbe("6.0.15", SEEDS["v6.0"], True, "v6.0")) == "v6.0"


def test_unknown_seed_set_is_refused() -> None:
    # the seeds of PyPI 5.0.7/5.0.8, replaced in the next release
    seeds = (3587615595324810408, 16581065910008722638, 11695134899033643297)
    with pytest.raises(ConfigError) as err:
        resolve_round(RoundProbe("5.0.8", seeds, True, None))
    text = str(err.value)
    assert "3587615595324810408" in text and "11695134899033643297" in text
    assert "install one of the releases listed in docs/rounds.md" in text


def test_zero_seeds_use_the_versioned_file_or_are_refused() -> None:
    # 4.1.7 has no built-in mlperf.conf; inferlab ships v4.1's
    assert resolve_round(RoundProbe("4.1.7", (0, 0, 0), False, None)) == "v4.1"
    for v in ("4.0", "3.1.0", "unknown", "7.0.0"):  # no round by version
        with pytest.raises(ConfigError, match="no built-in mlperf.conf") as err:
            resolve_round(RoundProbe(v, (0, 0, 0), False, None))
        assert "docs/rounds.md" in str(err.value)
    # a round inferlab has no file for (every release of it has the file built in)
    with pytest.raises(ConfigError, match="no mlperf.conf for v6.1"):
        resolve_round(RoundProbe("6.0.17", (0, 0, 0), False, None))


# --- probe failures ---------------------------------------------------------------------------


def _fake_python(tmp_path: Path, module_body: str) -> str:
    """An interpreter whose `import mlperf_loadgen` runs module_body."""
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "mlperf_loadgen.py").write_text(module_body)
    exe = tmp_path / "python"
    exe.write_text(f'#!/bin/sh\nPYTHONPATH="{fake}:$PYTHONPATH" exec "{sys.executable}" "$@"\n')
    exe.chmod(0o755)
    return str(exe)


@pytest.mark.parametrize(
    ("body", "timeout", "match"),
    [
        ("raise ImportError('no LoadGen here')\n", 60, "not installed"),
        ("import os\nos.abort()\n", 60, "signal"),
        ("import time\ntime.sleep(30)\n", 2, "did not finish"),
    ],
)
def test_probe_failures_are_config_errors(
    tmp_path: Path, body: str, timeout: float, match: str
) -> None:
    python = _fake_python(tmp_path, body)
    with pytest.raises(ConfigError, match=match) as err:
        probe_round(python, timeout=timeout)
    assert err.value.fix


def test_interpreter_without_inferlab_is_a_config_error(tmp_path: Path) -> None:
    exe = tmp_path / "python"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')  # no site-packages
    exe.chmod(0o755)
    with pytest.raises(ConfigError, match="inferlab is not installed") as err:
        probe_round(str(exe), timeout=30)
    assert "pip install inferlab" in err.value.fix


def test_missing_interpreter_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot run"):
        probe_round(str(tmp_path / "no-python"), timeout=10)


# --- other releases, where the environment names interpreters for them ------------------------

_EXTRA = [p for p in os.environ.get("INFERLAB_EXTRA_LOADGEN_PYTHONS", "").split(os.pathsep) if p]


@pytest.mark.skipif(not _EXTRA, reason="INFERLAB_EXTRA_LOADGEN_PYTHONS not set")
@pytest.mark.parametrize("python", _EXTRA)
def test_other_release(python: str) -> None:
    got = probe_round(python)
    assert got.python == python
    installed = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('mlcommons-loadgen'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert got.loadgen_version == installed  # that interpreter's LoadGen, not this one's
    assert got.embedded_conf == any(got.seeds)
    if got.embedded_conf:
        assert got.round == round_for_seeds(*got.seeds)
    try:
        rnd = resolve_round(got)
    except ConfigError:
        assert got.round is None  # refused only without a known seed set
    else:
        assert rnd in SEEDS


def test_runs_record_the_probe_and_refuse_another_round(tmp_path: Path) -> None:
    from .helpers import cli, run_cfg

    result = run_cfg(tmp_path, [], backend="null", quick=True)
    assert result["round"] == "v6.1"
    assert result["loadgen"]["probe"]["round"] == "v6.1"
    assert result["loadgen"]["probe"]["embedded_conf"] is True
    load = result["loadgen"]["config_load"]
    assert load["embedded_conf"] is True and load["calls"] == ["user.conf"]
    proc = cli(
        "run",
        "resnet50",
        "--backend",
        "null",
        "--quick",
        "--set",
        "round=v6.0",
        "--out",
        str(tmp_path / "other"),
    )
    assert proc.returncode == 2
    assert "serves v6.1" in proc.stderr and "docs/rounds.md" in proc.stderr
    assert not (tmp_path / "other").exists()
