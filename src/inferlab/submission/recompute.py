"""The checker recomputes each ``accuracy.txt`` it can: neither inferlab's checks of the text nor
the official checker notice a hand-edited ``accuracy.txt`` (they read the number it states).

The tree keeps only a truncated accuracy log and its ``hash=`` line (sha256 of the full log),
and the scenario's README.md names the run directory it was built from (inferlab's provenance
block). With ``--runs DIR`` the checker finds that run, checks that its full log is the one the
hash names, scores it again with the benchmark's own evaluation on the run's data
(:mod:`inferlab.results.rescore`) and compares the values with what accuracy.txt states. Where it
cannot (no provenance, no run found, the data gone), it says so in a note.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from pathlib import Path
from typing import Any

from inferlab.core.errors import InferlabError
from inferlab.core.rounds import BenchmarkRules, RoundRules
from inferlab.results.load import RESULT_NAME, load_run
from inferlab.results.rescore import ACCURACY_LOG, score_log
from inferlab.submission.accuracy_txt import parse_accuracy_txt
from inferlab.submission.findings import CheckerBase
from inferlab.submission.layout import PROVENANCE_BEGIN, PROVENANCE_END

HASH_LINE = re.compile(r"^hash=(\w+)\s*$", re.MULTILINE)
# accuracy.txt values are printed with 3 decimals by most accuracy scripts: a difference below
# half the last digit is formatting, anything above a different number
TOLERANCE = 5e-4
NO_RUN_FIX = (
    "pass --runs DIR (the run directories, or a folder holding them) to recompute it, "
    "or rebuild the tree from its runs"
)


def provenance_runs(readme: Path) -> dict[str, Any]:
    """The runs inferlab recorded in a scenario's README.md ({} when it has no block)."""
    if not readme.is_file():
        return {}
    text = readme.read_text(errors="replace")
    start = text.find(PROVENANCE_BEGIN)
    if start < 0:
        return {}
    end = text.find(PROVENANCE_END, start)
    try:
        doc = json.loads(text[start + len(PROVENANCE_BEGIN) : end])
    except ValueError:
        return {}
    runs = doc.get("runs") if isinstance(doc, dict) else None
    return runs if isinstance(runs, dict) else {}


def find_run(name: str, roots: tuple[Path, ...]) -> Path | None:
    """The run directory called ``name`` under one of ``roots`` (a root may be the run itself,
    the folder holding it, or a folder further up)."""
    if not name or "/" in name or name in (".", ".."):
        return None
    for root in roots:
        for cand in (root, root / name):
            if cand.name == name and (cand / RESULT_NAME).is_file():
                return cand
    for root in roots:
        if root.is_dir():
            for cand in sorted(root.rglob(name)):
                if (cand / RESULT_NAME).is_file():
                    return cand
    return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class RecomputeChecks(CheckerBase):
    def recompute(self, acc: Path, readme: Path, rules: RoundRules, b: BenchmarkRules) -> None:
        """Compare ``acc/accuracy.txt`` with the accuracy its run's full log scores."""
        txt = acc / "accuracy.txt"
        text = txt.read_text(errors="replace")
        metrics = [t.metric for t in b.targets]
        claimed = parse_accuracy_txt(text, metrics, rules.name)
        if not claimed:
            return  # accuracy-missing says it already
        run = provenance_runs(readme).get("accuracy") or {}
        name = str(run.get("run_dir") or "")
        if not name:
            self.note(
                "accuracy-not-recomputed",
                txt,
                "could not recompute the accuracy: README.md does not say which run it came "
                "from (no inferlab provenance block)",
                "check it by scoring the full accuracy log with the benchmark's accuracy script",
            )
            return
        run_dir = find_run(name, self.runs)
        if run_dir is None:
            where = (
                f"not found under {', '.join(str(r) for r in self.runs)}"
                if self.runs
                else "not given (no --runs)"
            )
            self.note(
                "accuracy-not-recomputed",
                txt,
                f"could not recompute the accuracy: its run {name} is {where}",
                NO_RUN_FIX,
            )
            return
        log_path = run_dir / ACCURACY_LOG
        if not log_path.is_file():
            self.note(
                "accuracy-not-recomputed",
                txt,
                f"could not recompute the accuracy: {run_dir} has no {ACCURACY_LOG}",
                "pass --runs pointing at a complete copy of the run",
            )
            return
        found = HASH_LINE.search(text)
        if found and found.group(1) != sha256_of(log_path):
            self.warn(
                "accuracy-log-differs",
                txt,
                f"the hash in accuracy.txt is not that of {log_path}: the tree was not built "
                "from this log, or one of them was changed",
                "rebuild the tree from the run (inferlab submission build)",
            )
            return
        try:
            result = load_run(run_dir).result
            with tempfile.TemporaryDirectory(prefix="inferlab-check-") as tmp:
                evaluation, what = score_log(result, log_path, Path(tmp))
        except InferlabError as exc:
            self.note(
                "accuracy-not-recomputed",
                txt,
                f"could not recompute the accuracy from {run_dir}: {exc.message}",
                "restore the data the run used (inferlab prepare), or score it with `inferlab "
                "evaluate RUN_DIR --val-map FILE | --dataset-path DIR` and compare",
            )
            return
        recomputed = parse_accuracy_txt(evaluation.accuracy_txt, metrics, rules.name)
        wrong = [
            f"{m} = {claimed[m]:g} but its log scores {recomputed[m]:g}"
            for m in metrics
            if m in claimed and m in recomputed and abs(claimed[m] - recomputed[m]) > TOLERANCE
        ]
        source = f"recomputed from {run_dir.name} against {what}"
        if wrong:
            self.error(
                "accuracy-mismatch",
                txt,
                f"accuracy.txt disagrees with its accuracy log: {'; '.join(wrong)} ({source})",
                "rebuild the tree from the run (inferlab submission build); accuracy.txt is the "
                "accuracy script's output and is never edited by hand",
            )
            return
        body = HASH_LINE.sub("", text).strip()
        if body != evaluation.accuracy_txt.strip():
            self.warn(
                "accuracy-text-differs",
                txt,
                f"the values agree but the text differs from the accuracy script's output "
                f"{evaluation.accuracy_txt.strip()!r} ({source})",
                "rebuild the tree from the run (inferlab submission build)",
            )
            return
        self.note(
            "accuracy-recomputed",
            txt,
            f"agrees with its accuracy log ({source})",
            "nothing to do",
        )
