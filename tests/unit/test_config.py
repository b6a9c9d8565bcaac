from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from inferlab.config import RunConfig, build_config, parse_set
from inferlab.core.errors import ConfigError


def test_precedence_defaults_yaml_flags_set(tmp_path: Path) -> None:
    y = tmp_path / "c.yaml"
    y.write_text("scenario: Server\ndtype: bf16\ncount: 10\nloadgen:\n  min_duration: 5\n")
    cfg = build_config(
        yaml_path=y,
        flags={"dtype": "fp16", "scenario": None},
        sets=["count=20", "loadgen.min_query_count=7"],
        environ={},
    )
    assert cfg.scenario == "Server"  # YAML beats default; an unset flag does not override
    assert cfg.dtype == "fp16"  # flag beats YAML
    assert cfg.count == 20  # --set beats everything
    assert cfg.loadgen == {"min_duration": 5, "min_query_count": 7}  # nested maps merge
    assert cfg.mode == "performance"  # default


def test_env_data_dir_is_lowest(tmp_path: Path) -> None:
    cfg = build_config(environ={"INFERLAB_DATA_DIR": "/data"})
    assert cfg.data_dir == Path("/data")
    cfg = build_config(flags={"data_dir": tmp_path}, environ={"INFERLAB_DATA_DIR": "/data"})
    assert cfg.data_dir == tmp_path


def test_config_is_frozen() -> None:
    cfg = RunConfig()
    with pytest.raises(ValidationError):
        cfg.dtype = "bf16"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("flags", "sets", "needle"),
    [
        ({"dtype": "int3"}, [], "dtype"),
        ({"scenario": "Batch"}, [], "scenario"),
        ({"device": "tpu"}, [], "device"),
        ({}, ["nonsense=1"], "unknown config key 'nonsense'"),
        ({}, ["loadgen.min_durashun=1"], "min_durashun"),
        ({}, ["loadgen.min_duration=abc"], "must be numbers"),
        ({}, ["count"], "has no '='"),
        ({}, ["count=0"], "count"),
    ],
)
def test_bad_input_is_one_clear_line(flags: dict, sets: list[str], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        build_config(flags=flags, sets=sets, environ={})
    text = str(err.value)
    assert needle in text
    assert "\n" not in text


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    y = tmp_path / "bad.yaml"
    y.write_text("scenario: Offline\n  dtype: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        build_config(yaml_path=y, environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        build_config(yaml_path=tmp_path / "missing.yaml", environ={})


def test_parse_set_types() -> None:
    assert parse_set(["loadgen.target_qps=12.5", "quick=true", "out=/tmp/x"]) == {
        "loadgen": {"target_qps": 12.5},
        "quick": True,
        "out": "/tmp/x",
    }


def test_calibration_only_when_its_key_is_used() -> None:
    from inferlab.runner.api import needs_calibration

    def cfg(**kw: object) -> RunConfig:
        return RunConfig.model_validate(kw)

    assert needs_calibration(cfg(scenario="Offline"), {})
    assert not needs_calibration(cfg(scenario="Offline", calibrate=False), {})
    assert not needs_calibration(cfg(scenario="Offline", loadgen={"target_qps": 5}), {})
    assert not needs_calibration(cfg(scenario="Server"), {"target_qps": 5})
    assert needs_calibration(cfg(scenario="SingleStream", loadgen={"target_qps": 5}), {})
    assert not needs_calibration(cfg(scenario="MultiStream"), {"target_latency": 40})
    assert not needs_calibration(cfg(scenario="Offline", mode="accuracy"), {})
    assert needs_calibration(cfg(scenario="Server", mode="accuracy"), {})


def test_loop_threads_need_inflight_batches_and_bert_fields_validate() -> None:
    with pytest.raises(ConfigError, match="max_inflight_batches >= 3"):
        build_config(flags={"loop_threads": 3, "max_inflight_batches": 2}, sets=[], environ={})
    cfg = build_config(
        flags={"loop_threads": 3, "max_inflight_batches": 3},
        sets=["padding=max", "max_batch_tokens=4096", "length_sort=false"],
        environ={},
    )
    assert (cfg.loop_threads, cfg.padding, cfg.max_batch_tokens, cfg.length_sort) == (
        3, "max", 4096, False,
    )  # fmt: skip
    with pytest.raises(ConfigError, match="padding"):
        build_config(flags={}, sets=["padding=none"], environ={})
    with pytest.raises(ConfigError, match="pad_multiple"):
        build_config(flags={}, sets=["pad_multiple=0"], environ={})


def test_threads_and_inflight_batches_default_per_device() -> None:
    def resolved(**flags: object) -> tuple[int, int]:
        cfg = build_config(flags=flags, sets=[], environ={})
        return cfg.resolved_loop_threads, cfg.resolved_max_inflight_batches

    assert resolved() == (1, 2)
    assert resolved(device="cuda") == (2, 3)  # one thread prepares while another runs
    assert resolved(device="cuda:0,1") == (2, 3)  # per replica
    assert resolved(loop_threads=3) == (3, 4)
    assert resolved(device="cuda", max_inflight_batches=1) == (1, 1)
    assert resolved(device="cuda", loop_threads=1, max_inflight_batches=5) == (1, 5)


def test_batch_size_defaults_per_scenario_on_cuda_and_says_where_it_came_from() -> None:
    from inferlab.backends.registry import section_class
    from inferlab.core import registry
    from inferlab.core.spec import Scenario, resolve_batch_size

    resnet = registry.get("resnet50")

    def batch(scenario: Scenario, backend: str = "torch", **kw: object) -> tuple[int, str]:
        args: dict[str, object] = {"requested": None, "device": "cuda"}
        args.update(kw)
        rule = section_class(backend).batch_rule  # each backend's section gives its rule
        return resolve_batch_size(resnet, scenario, rule=rule, **args)  # type: ignore[arg-type]

    assert batch(Scenario.OFFLINE) == (256, "resnet50's default for Offline on CUDA")
    assert batch(Scenario.SERVER)[0] == 64 and batch(Scenario.MULTI_STREAM)[0] == 8
    assert batch(Scenario.SINGLE_STREAM)[0] == 1
    assert batch(Scenario.OFFLINE, device="cuda:all")[0] == 256
    assert batch(Scenario.OFFLINE, device="cpu") == (32, "resnet50's default")
    assert batch(Scenario.OFFLINE, backend="onnxruntime")[0] == 32
    assert batch(Scenario.SERVER, requested=100) == (100, "--batch-size")
    bert = registry.get("bert-99")
    assert resolve_batch_size(
        bert,
        Scenario.OFFLINE,
        requested=None,
        device="cuda",
        rule=section_class("torch").batch_rule,
    ) == (128, "bert-99's default for Offline on CUDA")
    assert batch(Scenario.OFFLINE, backend="null") == (256, "the null backend's default")


def test_loadgen_values_out_of_loadgen_s_range_are_refused_in_yaml_too(tmp_path: Path) -> None:
    """LoadGen keeps counts in 64-bit integers and durations in nanoseconds: a value past them,
    not finite, fractional where it counts, or not 0/1 for a switch is refused with the key."""
    from inferlab.config.run_config import LOADGEN_KEY_RANGES, loadgen_value_problem

    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("loadgen:\n  max_duration: .inf\n")
    with pytest.raises(ConfigError, match="max_duration=inf is not a finite number"):
        build_config(yaml_path=yaml_file, environ={})
    assert loadgen_value_problem("target_latency_percentile", 0.99) is None
    assert loadgen_value_problem("target_latency_percentile", 1.5) is not None
    assert loadgen_value_problem("min_duration", 600_000) is None
    assert loadgen_value_problem("min_duration", 1e13) is not None  # ns past int64
    assert loadgen_value_problem("performance_issue_same", 1) is None
    flags = [k for k, (kind, _, _) in LOADGEN_KEY_RANGES.items() if kind == "flag"]
    assert "coalesce_queries" in flags and loadgen_value_problem("coalesce_queries", 2)


# ---- issue 15 items 2, 6 and 8: paths, file encodings, names in any case ---------------------


def test_paths_are_absolute_against_where_they_were_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf, work = tmp_path / "conf", tmp_path / "work"
    conf.mkdir()
    work.mkdir()
    y = conf / "c.yaml"
    y.write_text(
        "dataset_path: imgs\nuser_conf: ../u.conf\nbackend: torch\ncompile_cache_dir: cc\n"
    )
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cfg = build_config(
        yaml_path=Path("../conf/c.yaml"),
        flags={"model_path": "~/m.pth", "out": "/abs/runs"},
        sets=["cache_dir=cache"],
        environ={"INFERLAB_DATA_DIR": "data"},
    )
    assert cfg.dataset_path == conf / "imgs"  # YAML: its directory
    assert cfg.user_conf == tmp_path / "u.conf"  # ".." taken off
    assert cfg.backend_options.compile_cache_dir == conf / "cc"  # type: ignore[attr-defined]
    assert cfg.model_path == tmp_path / "home" / "m.pth"  # "~" expanded
    assert cfg.out == Path("/abs/runs")  # absolute: as written
    assert (cfg.cache_dir, cfg.data_dir) == (work / "cache", work / "data")  # --set, env: cwd
    assert RunConfig().out == work / "runs"  # the default too
    monkeypatch.chdir(tmp_path)  # a stored config reads back unchanged (the worker's case)
    assert RunConfig.model_validate(cfg.model_dump(mode="json")) == cfg


def test_python_api_paths_and_section_are_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = RunConfig(
        dataset_path=Path("imgs"),
        backend="torch",
        backend_options={"name": "torch", "compile_cache_dir": "cc"},  # type: ignore[arg-type]
    )
    assert cfg.dataset_path == tmp_path / "imgs"
    assert cfg.backend_options.compile_cache_dir == tmp_path / "cc"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["scenario=server"], ("Server", "performance", "fp32")),
        (["mode=ACCURACY", "scenario=multistream"], ("MultiStream", "accuracy", "fp32")),
        (["dtype=BF16", "mode=Performance"], ("Offline", "performance", "bf16")),
    ],
)
def test_names_in_any_case(sets: list[str], expected: tuple[str, str, str]) -> None:
    cfg = build_config(sets=sets, environ={})
    assert (cfg.scenario, cfg.mode, cfg.dtype) == expected
    cfg = build_config(sets=["decoder=PILLOW", "padding=Max", "native_issue=OFF"], environ={})
    assert (cfg.decoder, cfg.padding, cfg.native_issue) == ("pillow", "max", "off")
    assert build_config(sets=["native_issue=on"], environ={}).native_issue == "on"  # not True


def test_yaml_not_utf8_names_the_byte(tmp_path: Path) -> None:
    y = tmp_path / "c.yaml"
    y.write_bytes(b"scenario: Offline\n# caf\xe9\n")
    with pytest.raises(ConfigError) as err:
        build_config(yaml_path=y, environ={})
    assert f"{y} is not UTF-8 text: byte 0xe9 at offset 23 (line 2, column 6)" in str(err.value)
    assert err.value.fix is not None and err.value.fix.startswith("save it as UTF-8")
    y.write_bytes(b"\xef\xbb\xbfscenario: Server\n")  # a UTF-8 byte-order mark is fine
    assert build_config(yaml_path=y, environ={}).scenario == "Server"
    with pytest.raises(ConfigError, match="is a directory"):
        build_config(yaml_path=tmp_path, environ={})
