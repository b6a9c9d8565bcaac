"""The backend table: every line resolves to its config section, sections round-trip through
RunConfig, flat keys of earlier versions land in the section, and a key of another backend is
an error naming the fix. Nothing outside inferlab.backends compares a backend's name."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from inferlab.backends.base import BackendSection
from inferlab.backends.registry import BACKENDS, DEFAULT_BACKEND, find_section, section_class
from inferlab.config import RunConfig, build_config
from inferlab.config.sections import flat_view
from inferlab.core.errors import ConfigError

SRC = Path(__file__).resolve().parents[2] / "src" / "inferlab"


@pytest.mark.parametrize("name", list(BACKENDS))
def test_every_line_resolves_to_its_section(name: str) -> None:
    cls = section_class(name)
    assert issubclass(cls, BackendSection)
    section = cls.model_validate({})
    assert section.name == name
    assert cls.model_validate(section.model_dump()) == section  # the name is not dumped
    assert "name" not in section.model_dump()
    for flat, (key, unset) in cls.flat_keys.items():  # each legacy key has a home
        assert cls.accepts(key), (flat, key)
        assert cls.unset_value(key) == unset
    assert find_section(name) is cls


@pytest.mark.parametrize("name", list(BACKENDS))
def test_each_section_round_trips_through_a_stored_config(name: str) -> None:
    cfg = RunConfig(backend=name)
    assert cfg.backend_options == section_class(name).model_validate({})
    stored = cfg.model_dump(mode="json")  # what result.json keeps
    assert stored["backend"] == name and "name" not in stored["backend_options"]
    assert RunConfig.model_validate(stored) == cfg
    assert RunConfig.model_validate_json(cfg.model_dump_json()) == cfg  # the worker's job


def test_unknown_backend_names_the_table() -> None:
    with pytest.raises(ConfigError, match="invalid backend: 'tensorrt'.*torch, onnxruntime, null"):
        build_config(flags={"backend": "tensorrt"}, environ={})
    with pytest.raises(ConfigError, match="unknown backend 'tensorrt'"):
        section_class("tensorrt")
    assert find_section("tensorrt") is None and find_section(None) is None
    assert RunConfig().backend == DEFAULT_BACKEND


@pytest.mark.parametrize(
    ("backend", "sets", "expected"),
    [
        ("torch", ["torch_mode=cudagraph"], {"mode": "cudagraph"}),
        ("torch", ["compile=true"], {"mode": "compile"}),
        ("torch", ["compile=true", "torch_mode=max-autotune"], {"mode": "max-autotune"}),
        (
            "torch",
            ["fold_bn=false", "channels_last=true"],
            {"fold_bn": False, "channels_last": True},
        ),
        ("torch", ["sample_store=host"], {"sample_store": "host"}),
        ("torch", ["compile_cache_dir=/tmp/cc"], {"compile_cache_dir": Path("/tmp/cc")}),
        ("torch", ["backend_options.mode=cudagraph"], {"mode": "cudagraph"}),
        ("null", ["null_service_time_ms=2"], {"service_time_ms": 2.0}),
        ("null", ["backend_options.service_time_ms=2"], {"service_time_ms": 2.0}),
    ],
)
def test_legacy_flat_keys_land_in_the_section(
    backend: str, sets: list[str], expected: dict[str, Any]
) -> None:
    cfg = build_config(flags={"backend": backend}, sets=sets, environ={})
    for key, value in expected.items():
        assert getattr(cfg.backend_options, key) == value


def test_legacy_flags_and_yaml_keep_their_precedence(tmp_path: Path) -> None:
    y = tmp_path / "c.yaml"
    y.write_text("backend: torch\ntorch_mode: cudagraph\nfold_bn: true\n")
    cfg = build_config(yaml_path=y, environ={})
    assert (cfg.backend_options.mode, cfg.backend_options.fold_bn) == ("cudagraph", True)
    # a flag beats YAML, whether either spells the key flat or nested
    cfg = build_config(yaml_path=y, flags={"backend_options": {"mode": "eager"}}, environ={})
    assert cfg.backend_options.mode == "eager" and cfg.backend_options.fold_bn is True
    y.write_text("backend_options:\n  mode: cudagraph\n")
    cfg = build_config(yaml_path=y, flags={"torch_mode": "max-autotune"}, environ={})
    assert cfg.backend_options.mode == "max-autotune"
    cfg = build_config(yaml_path=y, sets=["torch_mode=eager"], environ={})
    assert cfg.backend_options.mode == "eager"


def test_stored_flat_configs_still_validate() -> None:
    """Every result.json before backend_options held these flat keys, at their defaults."""
    old = {
        "benchmark": "resnet50",
        "compile": False,
        "torch_mode": None,
        "fold_bn": None,
        "channels_last": None,
        "sample_store": "auto",
        "compile_cache_dir": None,
        "null_service_time_ms": 0.0,
    }
    null = RunConfig.model_validate({**old, "backend": "null", "null_service_time_ms": 20})
    opts = null.backend_options.model_dump()
    assert opts["service_time_ms"] == 20.0
    # the test-only fault injection (issue 15 item 9) is off by default
    assert opts["fail_at"] is None and opts["slow_first"] == 0 and opts["slow_ms"] == 0.0
    torch_ = RunConfig.model_validate(
        {**old, "backend": "torch", "compile": True, "fold_bn": True, "sample_store": "device"}
    )
    assert torch_.backend_options.mode == "compile" and torch_.backend_options.fold_bn
    assert torch_.backend_options.sample_store == "device"
    ort = RunConfig.model_validate({**old, "backend": "onnxruntime"})
    assert ort.backend_options.model_dump() == {}
    # readers of stored results see both shapes alike
    assert flat_view(torch_.model_dump(mode="json"))["torch_mode"] == "compile"
    assert flat_view({**old, "backend": "torch", "torch_mode": "eager"})["torch_mode"] == "eager"


@pytest.mark.parametrize(
    ("flags", "sets", "needle"),
    [
        ({"backend": "null", "torch_mode": "eager"}, [], "--torch-mode / torch_mode"),
        ({"backend": "null"}, ["fold_bn=false"], "fold_bn"),
        ({"backend": "null"}, ["compile=true"], "compile"),
        ({"backend": "onnxruntime"}, ["sample_store=device"], "sample_store"),
        ({"backend": "onnxruntime"}, ["backend_options.mode=cudagraph"], "backend_options.mode"),
        ({"backend": "torch"}, ["null_service_time_ms=2"], "null_service_time_ms"),
    ],
)
def test_a_key_of_another_backend_is_an_error_naming_the_fix(
    flags: dict[str, Any], sets: list[str], needle: str
) -> None:
    with pytest.raises(ConfigError) as err:
        build_config(flags=flags, sets=sets, environ={})
    text = str(err.value)
    assert needle in text and "\n" not in text
    assert "setting of the" in text and "drop it, or use --backend" in text


def test_section_errors_are_one_clear_line() -> None:
    with pytest.raises(ConfigError, match="compile=true contradicts torch_mode=cudagraph"):
        build_config(flags={"compile": True, "torch_mode": "cudagraph"}, environ={})
    with pytest.raises(ConfigError, match="unknown config key 'backend_options.fast'.*mode"):
        build_config(sets=["backend_options.fast=1"], environ={})
    with pytest.raises(ConfigError, match=r"invalid backend_options.mode: 'fast'"):
        build_config(flags={"torch_mode": "fast"}, environ={})
    with pytest.raises(ConfigError, match="backend_options are for the onnxruntime backend"):
        build_config(sets=["backend_options.name=onnxruntime"], environ={})
    with pytest.raises(ConfigError, match="service_time_ms"):
        build_config(flags={"backend": "null"}, sets=["null_service_time_ms=-1"], environ={})


def test_what_other_code_asks_of_the_section() -> None:
    torch_, ort, null = (section_class(n) for n in ("torch", "onnxruntime", "null"))
    assert torch_.device_stores and not ort.device_stores and not null.device_stores
    assert not ort.multi_device and torch_.multi_device and null.multi_device
    assert not null.loads_model and null.random_weights_label == "null backend"
    assert null.batch_rule.fixed == 256 and torch_.batch_rule.gpu_defaults
    assert ort.batch_rule.fixed is None and not ort.batch_rule.gpu_defaults


def test_no_backend_name_is_compared_outside_the_backends() -> None:
    pattern = re.compile(r"backend (==|!=|in) |== \"(torch|onnxruntime|null)\"")
    offenders = [
        f"{p.relative_to(SRC)}:{n}: {line.strip()}"
        for p in SRC.rglob("*.py")
        if not p.relative_to(SRC).as_posix().startswith("backends/")
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
