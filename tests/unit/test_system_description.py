"""The system description (results/system.py): MLPerf systems/<system>.json fields."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from inferlab.core.errors import ConfigError
from inferlab.results import system as sysmod
from inferlab.results.system import (
    ENV_SYSTEM_JSON,
    REQUIRED_FIELDS,
    capture_system,
    cpu_facts,
    cpu_part_name,
    gpu_part_name,
    metric_system_name,
    parse_nvidia_smi,
    system_name,
)


class FakeNvml(types.ModuleType):
    def __init__(self, names: list[str], total_mib: float) -> None:
        super().__init__("pynvml")
        self.names = names
        self.total = total_mib * 2**20

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return len(self.names)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetName(self, h: int) -> str:
        return self.names[h]

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        return types.SimpleNamespace(total=self.total, used=0)

    def nvmlDeviceGetMaxClockInfo(self, h: int, kind: int) -> int:
        return 1980

    def nvmlDeviceGetMaxPcieLinkGeneration(self, h: int) -> int:
        return 5

    def nvmlDeviceGetMaxPcieLinkWidth(self, h: int) -> int:
        return 16

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.54.15"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 12040


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sysmod, "detect_gpus", lambda: ([], {}, "none"))


def test_every_required_field_captured(no_gpu: None) -> None:
    desc = capture_system(environ={})
    assert len(REQUIRED_FIELDS) == 35
    assert set(REQUIRED_FIELDS) <= set(desc)
    assert desc["_unfilled"] == [k for k in REQUIRED_FIELDS if desc[k] in ("", None)]
    for key in ("division", "submitter", "status", "system_type", "cooling"):
        assert key in desc["_unfilled"]  # the machine cannot tell these
    assert desc["number_of_nodes"] == 1
    assert desc["accelerators_per_node"] == 0
    assert desc["accelerator_model_name"] == "N/A"
    assert desc["system_name"].startswith("cpu-") and " " not in desc["system_name"]
    assert desc["framework"].startswith("inferlab ") and "LoadGen " in desc["framework"]
    assert desc["operating_system"]
    assert desc["_sources"] == {"gpus": "none", "override": None}
    json.dumps(desc)  # storable as is
    if Path("/proc/cpuinfo").is_file():
        assert isinstance(desc["host_processor_core_count"], int)
        assert desc["host_processor_core_count"] >= 1
        assert desc["host_memory_capacity"].endswith(" GB")


def test_framework_follows_the_backend(no_gpu: None) -> None:
    assert "PyTorch" not in capture_system(backend="null", environ={})["framework"]


def test_gpus_from_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(["NVIDIA H100 80GB HBM3"], 81559))
    desc = capture_system(environ={})
    assert desc["system_name"] == "1xH100-SXM-80GB"
    assert desc["accelerators_per_node"] == 1
    assert desc["accelerator_model_name"] == "NVIDIA H100 80GB HBM3"
    assert desc["accelerator_memory_capacity"] == "80 GB"
    assert desc["accelerator_memory_configuration"] == "HBM3"
    assert desc["accelerator_frequency"] == "1980 MHz"
    assert desc["accelerator_host_interconnect"] == "PCIe Gen5 x16"
    assert "NVIDIA driver 550.54.15" in desc["other_software_stack"]
    assert "CUDA 12.4" in desc["other_software_stack"]
    assert desc["_sources"]["gpus"] == "nvml"
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(["NVIDIA H200"] * 8, 143771))
    assert capture_system(environ={})["system_name"] == "8xH200-SXM-141GB"


def test_override_file(tmp_path: Path, no_gpu: None) -> None:
    path = tmp_path / "system.json"
    path.write_text(
        json.dumps(
            {
                "submitter": "ACME",
                "division": "closed",
                "system_name": "ACME Box 1",
                "cooling": "air",
                "power_management": "default",  # extra fields are kept
                "_unfilled": ["ignored"],
            }
        )
    )
    desc = capture_system(environ={ENV_SYSTEM_JSON: str(path)})
    assert desc["submitter"] == "ACME" and desc["division"] == "closed"
    assert desc["system_name"] == "ACME Box 1" and desc["power_management"] == "default"
    assert "submitter" not in desc["_unfilled"] and "cooling" not in desc["_unfilled"]
    assert "ignored" not in desc["_unfilled"]
    assert desc["_sources"]["override"] == str(path)
    assert metric_system_name({"system": desc}) == "ACME-Box-1"


@pytest.mark.parametrize("content", [None, "{not json", "[1, 2]"])
def test_bad_override_file(tmp_path: Path, content: str | None, no_gpu: None) -> None:
    path = tmp_path / "system.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as err:
        capture_system(environ={ENV_SYSTEM_JSON: str(path)})
    assert ENV_SYSTEM_JSON in err.value.message


@pytest.mark.parametrize(
    ("name", "mib", "part"),
    [
        ("NVIDIA H100 80GB HBM3", 81559, "H100-SXM-80GB"),
        ("NVIDIA H100 PCIe", 81559, "H100-PCIe-80GB"),
        ("NVIDIA H100 NVL", 95830, "H100-NVL-94GB"),
        ("NVIDIA H200", 143771, "H200-SXM-141GB"),
        ("NVIDIA A100-SXM4-80GB", 81920, "A100-SXM-80GB"),
        ("NVIDIA A100-PCIE-40GB", 40536, "A100-PCIe-40GB"),
        ("NVIDIA L4", 23034, "L4-24GB"),
        ("Tesla T4", 15360, "T4-16GB"),
        ("NVIDIA GeForce RTX 4090", 24564, "RTX-4090-24GB"),
        ("NVIDIA A100-SXM4-40GB", None, "A100-SXM-40GB"),
    ],
)
def test_gpu_part_names(name: str, mib: float | None, part: str) -> None:
    assert gpu_part_name(name, mib) == part


def test_system_names() -> None:
    h100 = {"name": "NVIDIA H100 80GB HBM3", "memory_mib": 81559}
    l4 = {"name": "NVIDIA L4", "memory_mib": 23034}
    assert system_name([h100] * 2, "x") == "2xH100-SXM-80GB"
    assert system_name([h100, l4], "x") == "1xH100-SXM-80GB+1xL4-24GB"
    assert system_name([], "Intel(R) Xeon(R) Platinum 8480C CPU @ 2.00GHz") == (
        "cpu-Intel-Xeon-Platinum-8480C"
    )
    assert cpu_part_name("AMD EPYC 7B13 64-Core Processor") == "AMD-EPYC-7B13"


def test_cpu_facts_two_sockets() -> None:
    text = ""
    for i in range(8):
        text += (
            f"processor\t: {i}\nmodel name\t: Intel(R) Xeon(R) Gold 6430\n"
            f"physical id\t: {i // 4}\ncpu cores\t: 2\n\n"
        )
    facts = cpu_facts(text)
    assert facts == {
        "model": "Intel(R) Xeon(R) Gold 6430",
        "sockets": 2,
        "cores_per_socket": 2,
        "logical": 8,
    }


def test_parse_nvidia_smi() -> None:
    out = (
        "0, NVIDIA H100 80GB HBM3, 81559, 550.54.15, 1980, 5, 16\n"
        "1, NVIDIA H100 80GB HBM3, 81559, 550.54.15, [N/A], [N/A], [N/A]\n"
    )
    gpus, facts = parse_nvidia_smi(out)
    assert [g["index"] for g in gpus] == [0, 1]
    assert gpus[0] == {
        "index": 0,
        "name": "NVIDIA H100 80GB HBM3",
        "memory_mib": 81559,
        "max_sm_clock_mhz": 1980,
        "pcie_gen": 5,
        "pcie_width": 16,
    }
    assert "pcie_gen" not in gpus[1]
    assert facts == {"driver": "550.54.15"}
    assert system_name(gpus, "x") == "2xH100-SXM-80GB"
