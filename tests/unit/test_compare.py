"""inferlab compare on fake result.json contents: refusals, ratios, noise, environment diff."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.unit.test_report_rows import accuracy_result, as_result, fake_result

from inferlab.report import compare as cmp
from inferlab.report.table import ReportError
from inferlab.results.load import Run


def results(values: list[float | None], **over: Any) -> list[dict[str, Any]]:
    """result.json contents with these official figures (None: a failed run)."""
    out = []
    for v in values:
        res = fake_result(**over)
        res["result"] = {**res["result"], "value": v}
        if v is None:
            res["status"] = "failed"
        out.append(res)
    return out


def side_of(label: str, contents: list[dict[str, Any]]) -> cmp.Side:
    runs = [Run(Path(f"/runs/{label}{i}"), as_result(r)) for i, r in enumerate(contents)]
    return cmp.Side(label, runs)


def side(label: str, values: list[float | None], **over: Any) -> cmp.Side:
    return side_of(label, results(values, **over))


@pytest.mark.parametrize(
    ("over", "label"),
    [
        ({"benchmark": {"id": "bert-99"}}, "benchmark"),
        ({"scenario": "Server"}, "scenario"),
        ({"mode": "accuracy"}, "mode"),
        ({"dataset": {"dataset_id": "synthetic-imagenet"}}, "dataset"),
        ({"dataset": {"total_count": 500}}, "dataset size"),
    ],
)
def test_refuses_runs_that_differ_in_what_matters(over: dict[str, Any], label: str) -> None:
    with pytest.raises(cmp.NotComparable, match=f"cannot compare: {label}.* differs") as err:
        cmp.compare([side("A", [100.0]), side("B", [110.0], **over)])
    assert "/runs/A0" in str(err.value) and "/runs/B0" in str(err.value)
    with pytest.raises(cmp.NotComparable):  # also within one side
        cmp.compare(
            [cmp.Side("A", side("A", [1.0]).runs + side("X", [1.0], **over).runs), side("B", [1.0])]
        )


def test_ratio_of_throughput_single_runs() -> None:
    doc = cmp.compare([side("A", [1000.0]), side("B", [1250.0])])
    c = doc["comparisons"][0]
    assert c["ratio"] == pytest.approx(1.25) and c["change_pct"] == pytest.approx(25.0)
    assert c["better"] is True and c["ci"] is None
    assert c["verdict"] == (
        "noise unknown (one run per side: rerun with --repeat N or pass several runs)"
    )
    assert doc["metric"] == {
        "name": "result_samples_per_second",
        "unit": "samples/s",
        "higher_is_better": True,
    }


def test_latency_figures_lower_is_better() -> None:
    over = {
        "scenario": "SingleStream",
        "result": {"official_field": "early_stopping_latency_ss", "unit": "ms"},
    }
    doc = cmp.compare([side("A", [2.0, 2.1], **over), side("B", [1.0], **over)])
    c = doc["comparisons"][0]
    assert c["ratio"] == pytest.approx(1.0 / 2.05) and c["better"] is True
    assert c["verdict"].startswith("noise unknown (one run on side B")


def test_bootstrap_beyond_and_within_noise() -> None:
    a = [100.0, 101.0, 99.0, 100.5, 99.5]
    b = [110.0, 111.0, 109.0, 110.2, 109.6]
    verdict, ci = cmp.noise(a, b, ("A", "B"))
    assert verdict == "beyond noise" and ci is not None and 1.08 < ci[0] < ci[1] < 1.12
    assert cmp.bootstrap_ratio_ci(a, b) == cmp.bootstrap_ratio_ci(a, b)  # fixed seed
    assert cmp.bootstrap_ratio_ci(a, b, seed=1) != cmp.bootstrap_ratio_ci(a, b)
    verdict, ci = cmp.noise([100.0, 105.0, 95.0, 102.0], [101.0, 96.0, 104.0, 99.0], ("A", "B"))
    assert verdict == "within noise" and ci is not None and ci[0] < 1.0 < ci[1]
    slower, ci = cmp.noise(b, a, ("A", "B"))
    assert slower == "beyond noise" and ci is not None and ci[1] < 1.0


def test_compare_document_with_repeats() -> None:
    doc = cmp.compare(
        [side("A", [100.0, 101.0, 99.0]), side("B", [90.0, 91.0, 89.5])], resamples=2000, seed=3
    )
    a, b = doc["sides"]
    assert a["n"] == 3 and a["mean"] == pytest.approx(100.0) and a["stdev"] == pytest.approx(1.0)
    c = doc["comparisons"][0]
    assert c["verdict"] == "beyond noise" and c["better"] is False and c["ci"][1] < 1.0
    assert doc["bootstrap"] == {"resamples": 2000, "seed": 3, "level": 0.95}
    json.dumps(doc)


def test_failed_and_invalid_runs_are_noted() -> None:
    contents = results([120.0, None])
    contents[0]["result"]["validity"] = "INVALID"
    b = side_of("B", contents)
    doc = cmp.compare([side("A", [100.0]), b])
    assert doc["sides"][1]["values"] == [120.0]
    assert any("B1 has no result_samples_per_second (status failed)" in n for n in doc["notes"])
    assert any("1 of 2 run(s) INVALID" in n for n in doc["notes"])
    doc = cmp.compare([side("A", [100.0]), side("B", [None])])
    assert doc["comparisons"][0]["ratio"] is None


def test_accuracy_mode_compares_the_metric() -> None:
    a = cmp.Side("A", [Run(Path("/a"), as_result(accuracy_result(76.0, True)))])
    b = cmp.Side("B", [Run(Path("/b"), as_result(accuracy_result(75.0, False)))])
    doc = cmp.compare([a, b])
    assert doc["metric"]["name"] == "acc" and doc["metric"]["unit"] == "%"
    assert doc["comparisons"][0]["ratio"] == pytest.approx(75.0 / 76.0)


def test_environment_diff() -> None:
    env_a = {"packages": {"torch": "2.3.0", "numpy": "2.0"}, "hostname": "h"}
    env_b = {"packages": {"torch": "2.4.0", "numpy": "2.0"}, "hostname": "h"}
    sys_a = {"accelerator_model_name": "NVIDIA H100", "other_software_stack": "driver 550"}
    sys_b = {"accelerator_model_name": "NVIDIA H200", "other_software_stack": "driver 560"}
    ra = results([1.0, 1.0], environment=env_a, system=sys_a, inferlab_version="0.1.0")
    rb = results([1.0], environment=env_b, system=sys_b, inferlab_version="0.2.0")
    rb[0]["config"] = {**rb[0]["config"], "batch_size": 64, "out": "/x"}
    ra[1]["config"] = {**ra[1]["config"], "threads": 4}
    a, b = side_of("A", ra), side_of("B", rb)
    diff = {d["key"]: d["values"] for d in cmp.env_diff([a, b])}
    assert diff["system.accelerator_model_name"] == {"A": "NVIDIA H100", "B": "NVIDIA H200"}
    assert diff["system.other_software_stack"]["B"] == "driver 560"
    assert diff["environment.packages.torch"] == {"A": "2.3.0", "B": "2.4.0"}
    assert diff["inferlab_version"] == {"A": "0.1.0", "B": "0.2.0"}
    assert diff["config.batch_size"] == {"A": "-", "B": "64"}
    assert diff["config.threads"] == {"A": "varies: - | 4", "B": "-"}
    assert "environment.packages.numpy" not in diff and "environment.hostname" not in diff
    assert "config.out" not in diff  # where runs are stored is not an environment difference
    keys = list(diff)
    assert keys.index("system.accelerator_model_name") < keys.index("config.batch_size")


def test_renderers() -> None:
    a = side("A", [100.0, 102.0], environment={"packages": {"torch": "2.3"}})
    b = side("B", [120.0, 121.0], environment={"packages": {"torch": "2.4"}})
    doc = cmp.compare([a, b])
    text = cmp.render_table(doc)
    assert "ratio vs A" in text and "beyond noise" in text and "+19.31% higher, better" in text
    assert "environment.packages.torch" in text and "A: /runs/A0" in text
    md = cmp.render_markdown(doc)
    assert "| B | 2 |" in md and "**Environment and config differences**" in md
    assert json.loads(cmp.render_json(doc))["comparisons"][0]["verdict"] == "beyond noise"
    same = cmp.compare([side("A", [1.0]), side("B", [1.0])])
    assert "no differences" in cmp.render_table(same)


def test_resolve_sides() -> None:
    assert cmp.resolve_sides(["x", "y", "z"], [], []) == [("A", ["x"]), ("B", ["y"]), ("C", ["z"])]
    assert cmp.resolve_sides([], ["1", "2"], ["3"]) == [("A", ["1", "2"]), ("B", ["3"])]
    with pytest.raises(ReportError, match="not both"):
        cmp.resolve_sides(["x"], ["1"], ["2"])
    with pytest.raises(ReportError, match="both needed"):
        cmp.resolve_sides([], ["1"], [])
    with pytest.raises(ReportError, match="two sides"):
        cmp.resolve_sides(["x"], [], [])
