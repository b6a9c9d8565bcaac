"""The end of a suite: the submission tree built from its finished runs and checked (inferlab's
checker, and the official one beside it where given or installed), and the summary table
written as ``summary.md`` and ``summary.html`` beside ``suite.json``."""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict
from typing import Any

from inferlab.core.errors import InferlabError
from inferlab.core.files import atomic_write_text
from inferlab.results.load import load_runs
from inferlab.suite import summary
from inferlab.suite.execute import TREE_DIR, SuiteOptions, run_dirs
from inferlab.suite.state import SuiteState

log = logging.getLogger(__name__)


def write_summary(state: SuiteState) -> dict[str, Any]:
    t = summary.table(state)
    atomic_write_text(state.suite_dir / "summary.md", summary.render_markdown(t))
    atomic_write_text(state.suite_dir / "summary.html", summary.render_html(t))
    state.finished["summary"] = {"markdown": "summary.md", "html": "summary.html"}
    state.save()
    return t


def build_and_check(state: SuiteState, opts: SuiteOptions) -> dict[str, Any]:
    """Build ``<suite>/submission`` from the finished runs (a rebuild on --resume replaces the
    previous tree: the runs, not the tree, are the suite's record), check it, record both."""
    from inferlab.submission.build import BuildOptions, build
    from inferlab.submission.check import check_tree

    dirs = run_dirs(state)
    loaded, errors = load_runs(dirs)
    out: dict[str, Any] = {"errors": [str(e) for e in errors]}
    tree = state.suite_dir / TREE_DIR
    if tree.exists():
        shutil.rmtree(tree)
    try:
        rep = build(
            loaded,
            BuildOptions(
                submitter=opts.submitter,
                division=state.plan.division,
                category=state.plan.category,
                out=tree,
                system_desc=opts.system_desc,
                round=state.plan.round,
            ),
        )
    except InferlabError as exc:
        out["build"] = {"ok": False, "error": str(exc)}
        state.finished["tree"] = out
        state.save()
        return out
    out["build"] = {"ok": True, **rep.as_dict()}
    report = check_tree(rep.tree, rep.round, dirs)
    out["check"] = {
        "ok": report.ok,
        "errors": len(report.errors),
        "warnings": len(report.warnings),
        "codes": sorted({f.code for f in report.errors}),
    }
    out["check_report"] = report
    verdict = _official(rep.tree, opts, rep.round)
    if verdict is not None:
        out["official"] = asdict(verdict)
    state.finished["tree"] = {k: v for k, v in out.items() if k != "check_report"}
    state.save()
    return out


def _official(tree: Any, opts: SuiteOptions, round_: str) -> Any:
    from inferlab.submission.official import find_official_checker, run_official_checker

    checker = find_official_checker(opts.official_checker, version=round_)
    if checker is None:
        if opts.official_checker is not None:
            log.warning("official checker not found at %s", opts.official_checker)
        return None
    return run_official_checker(
        checker, tree, submitter=opts.submitter, version=round_, skip_power_check=True
    )
