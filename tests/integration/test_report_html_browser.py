"""report.html in headless Chromium: the page renders offline, its SVG plots hold data, and the
screenshot is not blank. Skipped when no chromium is installed (CI: apt-get install -y chromium);
the test installs nothing itself."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import cli, run_cfg


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium not found (/usr/bin/chromium or chromium on PATH); "
    "install it with `apt-get install -y chromium` to run the browser check",
)
COMMON = {"benchmark": "resnet50", "backend": "null", "count": 64, "calibrate": False}
GPU_TELEMETRY = "time_s,gpu,power_w,temp_c,util_pct\n" + "".join(
    f"{t * 0.25:.2f},{g},{250 + 20 * g + t},{55 + t / 4:.1f},{80 + t % 7}\n"
    for t in range(40)
    for g in (0, 1)
)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One report for two runs: a Server run with its trace, and an accuracy run whose stored
    accuracy is given a reference target (a null backend has none) so the target bar shows. The
    traced run gets a two-GPU telemetry.csv (this machine may have no GPU)."""
    tmp = tmp_path_factory.mktemp("browser")
    server = run_cfg(
        tmp,
        ["loadgen.min_duration=0", "loadgen.min_query_count=600", "loadgen.target_qps=1000"],
        scenario="Server",
        trace=True,
        **COMMON,
    )
    acc = run_cfg(tmp, [], scenario="Offline", mode="accuracy", **COMMON)
    (Path(server["run_dir"]) / "telemetry.csv").write_text(GPU_TELEMETRY)
    acc_dir = Path(acc["run_dir"])
    stored = json.loads((acc_dir / "result.json").read_text())
    stored["accuracy"]["status"] = "pass"
    stored["accuracy"]["metrics"] = [
        {
            "metric": "acc",
            "value": 76.1,
            "unit": "%",
            "reference": 76.46,
            "threshold": 75.6954,
            "upper_limit": None,
            "percent_of_reference": 99.529,
            "passed": True,
        }
    ]
    (acc_dir / "result.json").write_text(json.dumps(stored))
    out = tmp / "report.html"
    proc = cli("report", server["run_dir"], str(acc_dir), "--format", "html", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def _chrome(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    cmd = [
        CHROMIUM,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


class _Plots(HTMLParser):
    """Per <svg class="plot">: its title, axis labels, and the data elements' geometry."""

    def __init__(self) -> None:
        super().__init__()
        self.plots: list[dict[str, Any]] = []
        self._in: dict[str, Any] | None = None
        self._text: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        cls = a.get("class", "").split()
        if tag == "svg" and "plot" in cls:
            self._in = {"texts": {}, "paths": [], "bars": [], "markers": 0, "points": 0}
            self.plots.append(self._in)
        elif self._in is None:
            return
        elif tag == "path" and "series" in cls:
            self._in["paths"].append(a.get("d", ""))
        elif tag == "rect" and "bar" in cls:
            self._in["bars"].append((float(a["width"]), float(a["height"])))
        elif tag == "circle" and "point" in cls:
            self._in["points"] += 1
        elif tag == "line" and "marker" in cls:
            self._in["markers"] += 1
        elif tag == "text" and cls and cls[0] in ("plottitle", "xlabel", "ylabel"):
            self._text = cls[0]

    def handle_data(self, data: str) -> None:
        if self._in is not None and self._text:
            self._in["texts"][self._text] = self._in["texts"].get(self._text, "") + data

    def handle_endtag(self, tag: str) -> None:
        if tag == "text":
            self._text = None
        elif tag == "svg":
            self._in = None


def test_dom_has_plots_with_data(page: Path, tmp_path: Path) -> None:
    proc = _chrome("--dump-dom", page.as_uri(), profile=tmp_path / "profile")
    assert proc.returncode == 0, proc.stderr[-2000:]
    parser = _Plots()
    parser.feed(proc.stdout)
    plots = {p["texts"].get("plottitle", "?"): p for p in parser.plots}
    for p in parser.plots:
        title = p["texts"].get("plottitle")
        assert title and p["texts"].get("xlabel"), p
        points = sum(d.count("L") for d in p["paths"]) + p["points"]
        area = sum(w * h for w, h in p["bars"])
        assert points >= 1 or area > 0, f"{title}: no data drawn"
    expected = {
        "Query latency histogram",
        "Query latency CDF",
        "Throughput over time",
        "Latency over time",
        "top-1: measured vs target",
        "power_w over time",
        "temp_c over time",
        "util_pct over time",
    }
    assert expected <= set(plots), sorted(plots)
    assert len(plots["Query latency histogram"]["bars"]) >= 10
    assert plots["Query latency CDF"]["markers"] >= 1  # the p99 line
    assert plots["top-1: measured vs target"]["markers"] == 2  # target and reference
    power = plots["power_w over time"]
    assert len(power["paths"]) == 2 and all(d.count("L") >= 30 for d in power["paths"])


def test_screenshot_is_not_blank(page: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "out.png"
    proc = _chrome(
        f"--screenshot={shot}", "--window-size=1200,2400", page.as_uri(), profile=tmp_path / "p"
    )
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    with Image.open(shot) as img:
        rgb = img.convert("RGB")
        assert rgb.size == (1200, 2400)
        colours = rgb.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50  # text, table borders, bars, lines: far from a blank page
    white = max(count for count, c in colours if c == (255, 255, 255)) if colours else 0
    assert white < 0.97 * 1200 * 2400


def test_bounding_boxes_with_playwright(page: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    with sync_api.sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        except Exception as exc:  # no usable browser build for this playwright
            pytest.skip(f"playwright cannot start chromium: {exc}")
        tab = browser.new_page(viewport={"width": 1200, "height": 2400})
        tab.goto(page.as_uri())
        boxes = [el.bounding_box() for el in tab.query_selector_all("svg.plot")]
        browser.close()
    assert len(boxes) >= 8 and all(b and b["width"] > 100 and b["height"] > 50 for b in boxes)
