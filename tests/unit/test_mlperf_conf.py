"""The versioned mlperf.conf (inferlab.loadgen.mlperf_conf) and configure() on a LoadGen build
without a built-in one (a stand-in module that behaves like PyPI 4.1.7; no real LoadGen)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from inferlab.core.errors import ConfigError
from inferlab.core.rounds import SEEDS
from inferlab.loadgen import mlperf_conf, probe

# LoadGen's own line rule: model.scenario.key = value, value an integer or a double
_LINE = re.compile(r"^([^.\s=]+)\.([^.\s=]+)\.([^.\s=]+)\s*=\s*(\S+)$")


def _number(text: str) -> int | float:
    try:
        return int(text, 0)
    except ValueError:
        return float(text)


def parse(text: str) -> dict[tuple[str, str, str], int | float]:
    out: dict[tuple[str, str, str], int | float] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = _LINE.match(line)
        assert m, f"line {n} is not model.scenario.key = value: {raw!r}"
        model, scenario, key, value = m.groups()
        out[(model, scenario, key)] = _number(value)
    return out


def test_every_round_renders_parseable_text_with_its_seeds() -> None:
    assert mlperf_conf.rounds() == ["v4.1"]
    for rnd in mlperf_conf.rounds():
        text = mlperf_conf.render(rnd)
        table = parse(text)
        seeds = tuple(
            table[("*", "*", k)]
            for k in ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed")
        )
        assert seeds == SEEDS[rnd]
        assert mlperf_conf.for_round(rnd) == text
        # no line twice, no line lost in rendering
        assert len(table) == len(mlperf_conf.lines(rnd))
        for line in text.splitlines():
            assert line == "" or line.startswith("#") or _LINE.match(line)


def test_v41_values() -> None:
    table = parse(mlperf_conf.render("v4.1"))
    assert table[("resnet50", "Offline", "min_query_count")] == 24576
    assert table[("resnet50", "*", "performance_sample_count_override")] == 1024
    assert table[("resnet50", "Server", "target_latency")] == 15
    assert table[("*", "*", "test05_qsl_rng_seed")] == 16799458546791641818
    assert table[("llama2-70b", "Server", "ttft_latency")] == 2000
    assert table[("3d-unet", "*", "performance_sample_count_override")] == 0
    # no PSC line for mixtral in v4.1 (it arrived in v5.0)
    assert ("mixtral-8x7b", "*", "performance_sample_count_override") not in table
    off = mlperf_conf.effective("v4.1", "resnet50", "Offline")
    assert off["min_query_count"] == 24576
    assert off["performance_sample_count_override"] == 1024
    assert off["min_duration"] == 600000
    assert mlperf_conf.effective("v4.1", "resnet50", "Server")["target_latency"] == 15
    # a model without its own line gets the scenario default; MultiStream defaults apply
    assert mlperf_conf.effective("v4.1", "no-such-model", "Server")["target_latency"] == 10
    ms = mlperf_conf.effective("v4.1", "bert", "MultiStream")
    assert ms["min_query_count"] == 662 and ms["samples_per_query"] == 8
    assert mlperf_conf.effective("v4.1", "retinanet", "MultiStream")["target_latency"] == 528


def test_unknown_rounds() -> None:
    assert mlperf_conf.for_round(None) is None
    assert mlperf_conf.for_round("v6.1") is None  # every LoadGen of v6.1 has it built in
    with pytest.raises(KeyError):
        mlperf_conf.render("v9.9")


def test_supply_writes_once_and_refuses_a_foreign_file(tmp_path: Path) -> None:
    path, rnd = probe.supply_mlperf_conf(tmp_path, "4.1.7")
    assert rnd == "v4.1" and path == tmp_path / "mlperf.conf"
    assert path.read_text() == mlperf_conf.render("v4.1")
    assert probe.supply_mlperf_conf(tmp_path, "4.1.7") == (path, rnd)  # same text: kept
    path.write_text("*.*.qsl_rng_seed = 1\n")
    with pytest.raises(ConfigError, match="exists"):
        probe.supply_mlperf_conf(tmp_path, "4.1.7")
    with pytest.raises(ConfigError, match="docs/rounds.md"):
        probe.supply_mlperf_conf(tmp_path / "x", "4.0")  # no round, no file


# --- configure() on a build without a built-in mlperf.conf ------------------------------------


class _Settings:
    """Imitates the 4.1.7 build: is_mlperf_conf=False loads a compiled-in path that does not
    exist (an ERROR in the log) and counts user.conf files; True reads the given file, seeds
    included."""

    calls: list[tuple[str, bool]] = []
    count = 0
    errors: list[str] = []

    def __init__(self) -> None:
        self.qsl_rng_seed = self.sample_index_rng_seed = self.schedule_rng_seed = 0
        self.min_query_count = 100
        self.performance_sample_count_override = 0
        self.scenario = self.mode = None

    def FromConfig(  # noqa: N802 - LoadGen's name
        self, path: str, model: str, scenario: str, is_mlperf_conf: bool = False
    ) -> int:
        """FromConfig(self: mlperf_loadgen.TestSettings, path: str, model: str, scenario: str, is_mlperf_conf: bool = False) -> int"""  # noqa: E501
        _Settings.calls.append((Path(path).name, is_mlperf_conf))
        if not is_mlperf_conf:
            if _Settings.count == 0:
                _Settings.errors.append("can't open file /project/loadgen/mlperf.conf")
            else:
                _Settings.errors.append("Multiple conf files are used.")
            _Settings.count += 1
        table = parse(Path(path).read_text())
        for key in ("min_query_count", "performance_sample_count_override") + (
            ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed") if is_mlperf_conf else ()
        ):
            for m, s in ((model, scenario), ("*", scenario), (model, "*"), ("*", "*")):
                if (m, s, key) in table:
                    setattr(self, key, int(table[(m, s, key)]))
                    break
        return 0


def _fake_lg() -> SimpleNamespace:
    _Settings.calls, _Settings.count, _Settings.errors = [], 0, []
    return SimpleNamespace(TestSettings=_Settings)


def _spec(tmp_path: Path, user_conf_text: str) -> object:
    from inferlab.loadgen.adapter import TestSpec

    run = tmp_path / "run"
    run.mkdir()
    (run / "user.conf").write_text(user_conf_text)
    return TestSpec(
        user_conf=run / "user.conf",
        model="resnet50",
        scenario="Offline",
        mode="performance",
        out_dir=run,
        total_count=1024,
        performance_count=1024,
        audit_config=None,
        trace=False,
    )


def test_configure_supplies_the_round_file_on_a_build_without_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inferlab.loadgen import adapter, probe

    monkeypatch.setattr(adapter, "lg", _fake_lg())
    monkeypatch.setattr(probe, "installed_version", lambda: "4.1.7")
    spec = _spec(tmp_path, "resnet50.Offline.min_query_count = 500\n")
    settings, load = adapter.configure(spec)  # type: ignore[arg-type]
    run = spec.user_conf.parent  # type: ignore[attr-defined]
    assert (run / "mlperf.conf").read_text() == mlperf_conf.render("v4.1")
    # the probe of the built-in file reads an empty scratch file; then mlperf.conf, user.conf,
    # all as is_mlperf_conf=True: no lookup of the missing compiled-in path, no ERROR
    assert _Settings.calls == [("empty.conf", True), ("mlperf.conf", True), ("user.conf", True)]
    assert _Settings.errors == []
    assert (settings.qsl_rng_seed, settings.sample_index_rng_seed, settings.schedule_rng_seed) == (
        SEEDS["v4.1"]
    )
    assert settings.min_query_count == 500  # user.conf over mlperf.conf
    assert settings.performance_sample_count_override == 1024
    assert not load.embedded_conf
    assert load.round == "v4.1" and load.mlperf_conf == run / "mlperf.conf"
    assert load.from_config == "is_mlperf_conf"
    assert load.calls == ("mlperf.conf (as mlperf.conf)", "user.conf (as mlperf.conf)")
    assert "no built-in" in load.describe()


def test_configure_refuses_a_build_without_file_and_without_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inferlab.loadgen import adapter, probe

    monkeypatch.setattr(adapter, "lg", _fake_lg())
    monkeypatch.setattr(probe, "installed_version", lambda: "4.0")
    with pytest.raises(ConfigError, match="no built-in mlperf.conf"):
        adapter.configure(_spec(tmp_path, ""))  # type: ignore[arg-type]
    assert not (tmp_path / "run" / "mlperf.conf").exists()


# --- optional: every key/value as in the official file ----------------------------------------

_OFFICIAL_PATH = {"v4.1": "mlperf.conf"}  # where each round's file lives at its tag


def _official_text(rnd: str) -> str:
    root = os.environ.get("INFERLAB_OFFICIAL_INFERENCE")
    if not root:
        pytest.skip("set INFERLAB_OFFICIAL_INFERENCE to a mlcommons/inference checkout or git dir")
    out = subprocess.run(
        ["git", "-C", root, "show", f"{rnd}:{_OFFICIAL_PATH[rnd]}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode == 0:
        return out.stdout
    on_disk = Path(root) / _OFFICIAL_PATH[rnd]
    if on_disk.is_file():  # a checkout without tags: only if it is that round's file
        text = on_disk.read_text()
        if parse(text).get(("*", "*", "qsl_rng_seed")) == SEEDS[rnd][0]:
            return text
    pytest.skip(f"{root} has no {rnd} tag and its mlperf.conf is not {rnd}'s")


@pytest.mark.parametrize("rnd", sorted(_OFFICIAL_PATH))
def test_agrees_with_the_official_file(rnd: str) -> None:
    official = parse(_official_text(rnd))
    ours = parse(mlperf_conf.render(rnd))
    assert ours == official
