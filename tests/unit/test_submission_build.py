"""Pieces of the submission build that need no run: truncation, consistency warnings."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tests.unit.test_report_rows import as_result, fake_result

from inferlab.results.load import Run
from inferlab.results.models import RunResult
from inferlab.submission.build import Entry, truncate_accuracy_log
from inferlab.submission.layout import safe_name
from inferlab.submission.selection import _mismatches


def test_truncation_keeps_both_ends_and_hashes_the_whole_file(tmp_path: Path) -> None:
    src = tmp_path / "log.json"
    body = "".join(
        f'{{ "seq_id" : {i}, "qsl_idx" : {i}, "data" : "00000000" }},\n' for i in range(500)
    )
    src.write_text("[\n" + body + "]\n")
    dst = tmp_path / "out" / "log.json"
    digest = truncate_accuracy_log(src, dst)
    assert digest == hashlib.sha256(src.read_bytes()).hexdigest()
    full = src.read_bytes()
    assert dst.read_bytes() == full[:4096] + b"\n\n...\n\n" + full[-4096:]
    small = tmp_path / "small.json"
    small.write_text("[\n]\n")
    assert (
        truncate_accuracy_log(small, tmp_path / "s2.json") == hashlib.sha256(b"[\n]\n").hexdigest()
    )
    assert (tmp_path / "s2.json").read_text() == "[\n]\n"


def _run(name: str, **config: Any) -> Run:
    base = {"backend": "torch", "device": "cuda", "dtype": "fp16", "variant": None}
    dataset = {"dataset_id": "imagenet2012-val", "total_count": 50000, "path": "/d"}
    content = fake_result(dataset=dataset)
    content["config"] = {**base, **config}
    return Run(Path(name), as_result(content))


def test_runs_of_one_result_must_share_system_and_data() -> None:
    entry = Entry("resnet", "Offline", _run("perf"), _run("acc", dtype="fp32"))
    entry.audits = {"TEST01": _run("t01")}
    assert _mismatches(entry) == [
        "the accuracy run differs from the performance run in config: dtype 'fp16' vs 'fp32'"
    ]
    no_dataset = as_result({**fake_result(), "config": _run("x").result.config, "dataset": None})
    entry.audits["TEST04"] = Run(Path("t04"), no_dataset)
    (msg,) = _mismatches(entry)[1:]
    assert msg.startswith("the TEST04 run differs from the performance run in dataset:")


def test_safe_system_names() -> None:
    assert safe_name("1xH100-SXM-80GB") == "1xH100-SXM-80GB"
    assert safe_name("my box / v2") == "my_box_v2"
    assert safe_name("///") == "system"


def test_flags_name_what_the_round_lacks() -> None:
    from inferlab.core import registry
    from inferlab.results.schema import _round_reasons

    resnet = registry.get("resnet50")
    assert _round_reasons(resnet, "Server", "v6.1") == [
        "round v6.1 has no Server scenario for resnet"
    ]
    assert _round_reasons(resnet, "Server", "v5.0") == []  # datacenter had it then
    assert _round_reasons(resnet, "Offline", "v6.1") == []
    assert _round_reasons(resnet, "Offline", None) == []


def test_measurements_name_the_8bit_scheme_and_the_dtypes_it_mixes() -> None:
    from inferlab.submission.tree_files import _weights

    def result(dtype: str, quantization: dict[str, Any] | None) -> RunResult:
        content = fake_result(
            model={"random_weights": False},
            backend={"fold_bn": True, "quantization": quantization},
            benchmark={"variant": {"checkpoint_name": "resnet50-19c8e357.pth"}},
        )
        content["config"] = {"dtype": dtype, "fold_bn": True}
        return as_result(content)

    gemm = {"format": "fp8", "layers_8bit": 36, "other_layers_dtype": "bfloat16"}
    start, dtype, changes = _weights(result("fp8", gemm))
    assert start == "resnet50-19c8e357.pth" and dtype == "fp8, bf16"
    assert changes == (
        "batch-norm folded into convolutions; post-training static fp8 quantization of 36 "
        "pointwise convolutions (other layers bfloat16)"
    )
    _, dtype, changes = _weights(result("int8", {"scheme": "int8 post-training static ..."}))
    assert dtype == "int8" and changes.endswith("; post-training static int8 quantization")
    assert _weights(result("bf16", None))[1:] == ("bf16", "batch-norm folded into convolutions")
