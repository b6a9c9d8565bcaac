"""Where things go in a submission tree, per round (rules file §2.5).

v6.0 and later: per ``results/<system>/<benchmark>/<scenario>/`` the measurements (user.conf,
README.md, measurements.json), ``accuracy/``, ``performance/run_1/`` and the compliance tests
(``TEST01/`` ...); code in ``src/<benchmark>/``.

v4.1 to v5.1: results hold only ``accuracy/`` and ``performance/run_1/``; the measurements live
in ``measurements/<system>/<benchmark>/<scenario>/`` (with ``<system>_<impl>_<scenario>.json``
and, in v4.1, mlperf.conf) and the compliance tests in
``compliance/<system>/<benchmark>/<scenario>/TEST0x/``; code in ``code/<benchmark>/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

IMPLEMENTATION = "inferlab"
# Where inferlab records, inside README.md, what a result was built from (parsed by `check`).
PROVENANCE_BEGIN = "<!-- inferlab-provenance"
PROVENANCE_END = "-->"
ROUND_MARKER = re.compile(r"^inferlab-round:\s*(v\d+\.\d+)\s*$", re.MULTILINE)


def safe_name(text: str) -> str:
    """A directory-safe system name: letters, digits, '-', '_', '.'; others become '_'."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip()).strip("_.")
    return out or "system"


@dataclass(frozen=True)
class Layout:
    root: Path  # the tree root (holds <division>/)
    division: str
    submitter: str
    layout: str  # "v6" or "v4"

    @property
    def org(self) -> Path:
        return self.root / self.division / self.submitter

    def system_json(self, system: str) -> Path:
        return self.org / "systems" / f"{system}.json"

    def code_dir(self, benchmark: str) -> Path:
        return self.org / ("src" if self.layout == "v6" else "code") / benchmark

    @property
    def documentation(self) -> Path:
        return self.org / "documentation"

    def results(self, system: str, benchmark: str, scenario: str) -> Path:
        return self.org / "results" / system / benchmark / scenario

    def measurements(self, system: str, benchmark: str, scenario: str) -> Path:
        if self.layout == "v6":
            return self.results(system, benchmark, scenario)
        return self.org / "measurements" / system / benchmark / scenario

    def measurements_json(self, system: str, benchmark: str, scenario: str) -> Path:
        d = self.measurements(system, benchmark, scenario)
        if self.layout == "v6":
            return d / "measurements.json"
        return d / f"{system}_{IMPLEMENTATION}_{scenario}.json"

    def compliance(self, system: str, benchmark: str, scenario: str, test: str) -> Path:
        if self.layout == "v6":
            return self.results(system, benchmark, scenario) / test
        return self.org / "compliance" / system / benchmark / scenario / test
