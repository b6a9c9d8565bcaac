"""Files and folders a submission tree may hold, per layout (rules file §2.5), and the ones it
holds that the layout does not allow: a stray log, a trace, an editor's backup or a
``.DS_Store`` is refused by the review and is nowhere a reader of the tree would look.

Free-form folders (``documentation/``, ``src/`` or ``code/``) may hold anything; so may the
folders of the compliance tests inferlab does not run (TEST06 and later).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from inferlab.submission.check_result import SCENARIO_DIRS

PERF_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")


@dataclass(frozen=True)
class Allowed:
    """What one folder may hold: files (names or regexes) and folders, each with its rule."""

    files: tuple[str, ...] = ()
    dirs: dict[str, Allowed | None] | None = None  # regex -> rule (None: anything inside)
    what: str = ""
    # a folder of a wrong name here is reported by another check (bad-scenario)
    names_checked_elsewhere: bool = False

    def file_ok(self, name: str) -> bool:
        return any(re.fullmatch(f, name) for f in self.files)

    def dir_rule(self, name: str) -> tuple[bool, Allowed | None]:
        for pattern, rule in (self.dirs or {}).items():
            if re.fullmatch(pattern, name):
                return True, rule
        return False, None


_RUN = Allowed(
    files=(*PERF_FILES, "mlperf_log_accuracy.json", "spl.txt"),
    what="mlperf_log_summary.txt, mlperf_log_detail.txt, mlperf_log_accuracy.json (and "
    "spl.txt for power)",
)
_PERF = Allowed(dirs={r"run_\d+": _RUN, "ranging": None, "power": None}, what="run_1/")
_ACC = Allowed(
    files=(*PERF_FILES, "accuracy.txt", "mlperf_log_accuracy.json"),
    dirs={"images": None},
    what="mlperf_log_summary.txt, mlperf_log_detail.txt, accuracy.txt and mlperf_log_accuracy.json",
)
_TEST01_ACC = Allowed(
    files=(
        "mlperf_log_accuracy.json",
        "accuracy.txt",
        "baseline_accuracy.txt",
        "compliance_accuracy.txt",
    ),
    what="mlperf_log_accuracy.json, accuracy.txt, baseline_accuracy.txt and "
    "compliance_accuracy.txt",
)
_TEST01 = Allowed(
    files=("verify_accuracy.txt", "verify_performance.txt"),
    dirs={"accuracy": _TEST01_ACC, "performance": _PERF},
    what="verify_accuracy.txt, verify_performance.txt, accuracy/ and performance/",
)
_TEST_PERF = Allowed(
    files=("verify_performance.txt",),
    dirs={"performance": _PERF},
    what="verify_performance.txt and performance/",
)
_TEST06 = Allowed(
    files=("verify_accuracy.txt",),
    dirs={
        "accuracy": Allowed(files=("mlperf_log_accuracy.json",), what="mlperf_log_accuracy.json")
    },
    what="verify_accuracy.txt and accuracy/",
)
_TESTS: dict[str, Allowed | None] = {
    "TEST01": _TEST01,
    "TEST04": _TEST_PERF,
    "TEST05": _TEST_PERF,
    "TEST06": _TEST06,
    r"TEST\d\d": None,  # tests inferlab does not run: their own files
}
_SCENARIOS = "|".join(SCENARIO_DIRS)


def _per_result(scenario: Allowed) -> Allowed:
    """<system>/<benchmark>/<scenario>/ under results/ (measurements/, compliance/)."""
    bench = Allowed(
        dirs={_SCENARIOS: scenario}, what="one folder per scenario", names_checked_elsewhere=True
    )
    system = Allowed(dirs={r"[^.].*": bench}, what="one folder per benchmark")
    return Allowed(dirs={r"[^.].*": system}, what="one folder per system")


def _org(layout: str) -> Allowed:
    systems = Allowed(files=(r"[^.].*\.json",), what="one <system>.json per system")
    if layout == "v6":
        scenario = Allowed(
            files=("user.conf", "README.md", "measurements.json", "mlperf.conf"),
            dirs={"performance": _PERF, "accuracy": _ACC, **_TESTS},
            what="user.conf, README.md, measurements.json, performance/, accuracy/ and TEST0x/",
        )
        dirs: dict[str, Allowed | None] = {
            "systems": systems,
            "results": _per_result(scenario),
            "documentation": None,
            "src": None,
            # another round's layout: `wrong-layout` says so, not this
            "measurements|compliance|code": None,
        }
    else:
        scenario = Allowed(
            dirs={"performance": _PERF, "accuracy": _ACC}, what="performance/ and accuracy/"
        )
        measured = Allowed(
            files=("user.conf", "README.md", "mlperf.conf", r"[^.].*\.json"),
            what="user.conf, README.md, mlperf.conf and <system>_<implementation>_<scenario>.json",
        )
        compliance = Allowed(dirs=_TESTS, what="TEST0x/ folders")
        dirs = {
            "systems": systems,
            "results": _per_result(scenario),
            "measurements": _per_result(measured),
            "compliance": _per_result(compliance),
            "documentation": None,
            "code": None,
            "src": None,  # v6's name: `wrong-layout` says so
        }
    return Allowed(
        files=("calibration.md",),
        dirs=dirs,
        what="systems/, results/, documentation/, "
        + ("src/" if layout == "v6" else "measurements/, compliance/, code/")
        + " (and calibration.md)",
    )


def stray_entries(org: Path, layout: str) -> Iterator[tuple[Path, str]]:
    """(path, where it is and what that folder may hold) of every file or folder under the
    submitter's folder ``org`` that the ``layout`` ("v6" or "v4") does not allow. A stray
    folder is named once, not its contents. Scenario and benchmark names are checked
    elsewhere (bad-scenario, benchmark-not-in-round): any name passes here."""
    yield from _walk(org, _org(layout))


def _walk(folder: Path, rule: Allowed) -> Iterator[tuple[Path, str]]:
    for p in sorted(folder.iterdir()):
        if p.is_dir() and not p.is_symlink():
            ok, inner = rule.dir_rule(p.name)
            if not ok:
                if not rule.names_checked_elsewhere:
                    yield p, rule.what
            elif inner is not None:
                yield from _walk(p, inner)
        elif not rule.file_ok(p.name):
            yield p, rule.what
