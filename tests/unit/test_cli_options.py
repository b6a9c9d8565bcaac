"""``inferlab run``'s config options are derived from RunConfig and the backends' sections: each
field marked for the CLI has its option, with its choices and default in --help; a field added
to the config gets its option; an option left out passes nothing (YAML still applies)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
import typer
from typer.testing import CliRunner

from inferlab.backends.registry import BACKENDS, section_classes
from inferlab.cli.app import app
from inferlab.cli.options import config_options, flags_layer
from inferlab.config import RunConfig
from inferlab.core.option import CliOption

# The CLI's own options: not config fields.
CLI_ONLY = {
    "--config", "--set", "--compile", "--json", "--repeat", "--find-peak", "--peak-probe-ms",
    "--peak-max-probes", "--peak-tolerance", "--peak-start", "--peak-max",
}  # fmt: skip
# Every option `inferlab run` had before the options were derived (README "Usage", tests).
LEGACY = {
    "--scenario", "--mode", "--dtype", "--device", "--backend", "--count", "--data-dir",
    "--dataset-path", "--model-path", "--out", "--config", "--quick", "--user-conf", "--set",
    "--batch-size", "--threads", "--variant", "--audit-config", "--audit", "--trace",
    "--no-calibrate", "--padding", "--max-batch-tokens", "--compile", "--torch-mode",
    "--fold-bn", "--no-fold-bn", "--channels-last", "--no-channels-last", "--sample-store",
    "--json", "--repeat", "--quiet", "-q", "--find-peak", "--peak-probe-ms", "--peak-max-probes",
    "--peak-tolerance", "--peak-start", "--peak-max",
}  # fmt: skip


def _run_command() -> Any:
    return typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]


def _help() -> str:
    res = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "400", "NO_COLOR": "1"})
    assert res.exit_code == 0, res.output
    return res.output


def _marked(model: Any) -> list[str]:
    fields = model.model_fields.items()
    return [n for n, f in fields if any(isinstance(m, CliOption) for m in f.metadata)]


def test_every_cli_field_has_its_option_and_every_option_its_field() -> None:
    opts = {o.path[-1]: o for o in config_options()}
    names = set(_marked(RunConfig)) | {n for c in section_classes() for n in _marked(c)}
    assert names == set(opts)
    declared = {d for p in _run_command().params for d in (*p.opts, *p.secondary_opts)}
    derived = {d for o in config_options() for f in o.flags for d in f.split("/")}
    assert derived <= declared
    assert declared - derived - {"benchmark"} == CLI_ONLY
    assert LEGACY <= declared  # no flag of before is gone


def test_help_lists_each_option_with_its_choices_and_default() -> None:
    text = _help()
    for opt in config_options():
        flag = opt.flags[0].split("/")[0]
        line = next((ln for ln in text.splitlines() if re.match(rf"\W*{flag}\b", ln)), None)
        assert line is not None, flag
        if opt.choices:
            assert f"[{'|'.join(opt.choices)}]" in line, line
        if opt.default is not None and opt.switch is None:
            assert f"[default: {opt.default}]" in line, line
    line = next(ln for ln in text.splitlines() if "--scenario" in ln)
    assert "[SingleStream|MultiStream|Offline|Server|Interactive]" in line
    assert "[default: Offline]" in line
    line = next(ln for ln in text.splitlines() if "--backend" in ln)
    assert f"[{'|'.join(BACKENDS)}]" in line and "[default: torch]" in line
    assert "[default: (on CUDA)]" in next(ln for ln in text.splitlines() if "--fold-bn" in ln)


def test_a_field_added_to_the_config_becomes_an_option() -> None:
    class Grown(RunConfig):
        warp: Annotated[Literal["slow", "fast"], CliOption("How fast.")] = "slow"
        hidden: int = 3  # not marked: --set / YAML only

    opts = {o.path: o for o in config_options(Grown)}
    warp = opts[("warp",)]
    assert warp.flags == ("--warp",) and warp.choices == ("slow", "fast")
    assert warp.default == "slow" and ("hidden",) not in opts
    assert flags_layer(list(opts.values()), {"warp": "fast"}, {"warp"}) == {"warp": "fast"}
    assert flags_layer(list(opts.values()), {"warp": "slow"}, set()) == {}  # not given


class Captured:
    """Stands in for runner.api.run; keeps the configs it was given."""

    def __init__(self) -> None:
        self.configs: list[RunConfig] = []

    def __call__(self, cfg: RunConfig) -> Any:
        self.configs.append(cfg)

        class Result:
            status, error, run_dir = "ok", None, "nowhere"

            def to_json(self) -> dict[str, Any]:
                return {}

        return Result()


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Captured:
    fake = Captured()
    monkeypatch.setattr("inferlab.runner.api.run", fake)
    monkeypatch.delenv("INFERLAB_DATA_DIR", raising=False)
    monkeypatch.delenv("INFERLAB_CACHE_DIR", raising=False)
    return fake


def _cfg(captured: Captured, *args: str) -> RunConfig:
    res = CliRunner().invoke(app, ["run", "resnet50", "--json", "-q", *args])
    assert res.exit_code == 0, res.output
    return captured.configs[-1]


def test_flags_reach_the_config_and_its_backend_section(captured: Captured) -> None:
    cfg = _cfg(
        captured,
        *("--backend", "torch", "--torch-mode", "cudagraph", "--no-fold-bn"),
        *("--channels-last", "--sample-store", "device", "--scenario", "server"),
        *("--no-calibrate", "--audit", "test01", "--dtype", "bf16", "--count", "8"),
    )
    section = cfg.backend_options
    assert (section.mode, section.fold_bn, section.channels_last) == ("cudagraph", False, True)  # type: ignore[attr-defined]
    assert section.sample_store == "device"  # type: ignore[attr-defined]
    assert (cfg.scenario, cfg.calibrate, cfg.audit, cfg.dtype, cfg.count) == (
        "Server", False, "TEST01", "bf16", 8,
    )  # fmt: skip
    assert cfg.quiet and not cfg.quick
    assert _cfg(captured, "--compile").backend_options.mode == "compile"  # type: ignore[attr-defined]
    cfg = _cfg(captured, "--backend", "null", "--set", "null_service_time_ms=2")
    assert cfg.backend_options.service_time_ms == 2.0  # type: ignore[attr-defined]


def test_an_option_left_out_does_not_override_yaml(captured: Captured, tmp_path: Path) -> None:
    y = tmp_path / "c.yaml"
    y.write_text('scenario: Server\nbackend: "null"\nnull_service_time_ms: 3\nout: elsewhere\n')
    cfg = _cfg(captured, "--config", str(y))
    assert (cfg.scenario, cfg.backend, cfg.out) == ("Server", "null", tmp_path / "elsewhere")
    assert cfg.backend_options.service_time_ms == 3.0  # type: ignore[attr-defined]
    cfg = _cfg(captured, "--config", str(y), "--scenario", "Offline")  # a flag beats YAML
    assert cfg.scenario == "Offline"


def test_a_torch_option_with_another_backend_is_one_error_line(captured: Captured) -> None:
    res = CliRunner().invoke(app, ["run", "resnet50", "--backend", "null", "--torch-mode", "eager"])
    assert res.exit_code == 2 and not captured.configs
    assert "error: --torch-mode / torch_mode" in res.output and "--backend torch" in res.output
