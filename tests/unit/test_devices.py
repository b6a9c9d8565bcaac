"""--device parsing: one device, a GPU list, all GPUs, CPU replicas."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from inferlab.config.devices import parse_devices
from inferlab.config.run_config import RunConfig
from inferlab.core.errors import ConfigError


@pytest.mark.parametrize(
    ("spec", "available", "replicas", "labels"),
    [
        ("cpu", None, ["cpu"], ["cpu"]),
        ("cuda", 2, ["cuda"], ["cuda"]),
        ("cuda:1", 2, ["cuda:1"], ["cuda:1"]),
        ("cuda:0,1,3", 4, ["cuda:0", "cuda:1", "cuda:3"], ["cuda:0", "cuda:1", "cuda:3"]),
        ("cuda:all", 3, ["cuda:0", "cuda:1", "cuda:2"], ["cuda:0", "cuda:1", "cuda:2"]),
        ("cpu:0,1", None, ["cpu", "cpu"], ["cpu:0", "cpu:1"]),
    ],
)
def test_replicas(spec: str, available: int | None, replicas: list[str], labels: list[str]) -> None:
    d = parse_devices(spec)
    assert d.replicas(available) == replicas
    assert d.labels(available) == labels
    assert d.multi == (len(replicas) > 1)


@pytest.mark.parametrize("spec", ["gpu", "cuda:", "cuda:0,0", "cpu:all", "cuda:a", "cuda:0;1"])
def test_bad_specs_name_the_fix(spec: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_devices(spec)
    assert "--device" in err.value.fix or "cpu:0,1" in err.value.fix or "cpu" in err.value.fix
    with pytest.raises(ValidationError):
        RunConfig(device=spec)


def test_missing_gpus_are_named() -> None:
    with pytest.raises(ConfigError, match="cuda:3 does not exist: this machine has 2"):
        parse_devices("cuda:0,3").replicas(2)
    with pytest.raises(ConfigError, match="no CUDA device"):
        parse_devices("cuda:all").replicas(0)
