"""Which stored runs go into a submission tree: runs grouped into entries (benchmark and
scenario), the newest of each kind chosen, and what the runs of one entry must share.
Part of ``inferlab submission build`` (:mod:`inferlab.submission.build`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from inferlab.config.sections import flat_view
from inferlab.core.errors import ConfigError
from inferlab.core.rounds import rules_for
from inferlab.results.load import Run

AUDITS = ("TEST01", "TEST04", "TEST06")


@dataclass
class Entry:
    """One benchmark/scenario of the tree and the runs it was built from."""

    benchmark: str  # checker name
    scenario: str
    performance: Run
    accuracy: Run | None = None
    audits: dict[str, Run] = field(default_factory=dict)
    ignored: list[Run] = field(default_factory=list)
    compliance: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "scenario": self.scenario,
            "performance": str(self.performance.path),
            "accuracy": str(self.accuracy.path) if self.accuracy else None,
            "audits": {k: str(v.path) for k, v in self.audits.items()},
            "ignored": [str(r.path) for r in self.ignored],
            "compliance": self.compliance,
            "notes": self.notes,
        }


def _audit(run: Run) -> str | None:
    audit = run.result.audit
    return audit.test if audit is not None else None


def round_of(runs: Sequence[Run], wanted: str | None) -> str:
    rounds = sorted({str(r.result.round) for r in runs})
    if wanted is not None:
        rules_for(wanted)
        other = [str(r.path) for r in runs if r.result.round != wanted]
        if other:
            raise ConfigError(
                f"--round {wanted}, but these runs were made for another round: {other[:3]}",
                "a round is fixed by the LoadGen that ran it (docs/rounds.md); pass runs of one "
                "round",
            )
        return wanted
    if len(rounds) != 1 or rounds[0] == "None":
        raise ConfigError(
            f"the runs belong to different or unknown rounds: {rounds}",
            "build one tree per round (see result.json 'round'), or pass --round",
        )
    rules_for(rounds[0])
    return rounds[0]


def select(
    runs: Sequence[Run], round_: str, category: str, division: str
) -> tuple[list[Entry], list[str], list[str]]:
    """Group runs into tree entries; newest run wins where there are several of a kind.
    Returns (entries, warnings, refusals)."""
    rules = rules_for(round_)
    warnings: list[str] = []
    refused: list[str] = []
    groups: dict[tuple[str, str], dict[str, list[Run]]] = {}
    for run in runs:
        r = run.result
        status = r.status
        if status not in ("ok", "invalid"):
            warnings.append(f"{run.path}: status {status}: not used (only finished runs are)")
            continue
        bench = r.benchmark.checker_name
        scenario: str = r.scenario
        brules = rules.benchmark(str(bench))
        if brules is None:
            refused.append(
                f"{run.path}: round {round_} has no benchmark {bench!r}; such a run can still "
                "be reported as a measurement (`inferlab report`)"
            )
            continue
        if scenario not in brules.scenarios(category):
            have = ", ".join(brules.scenarios(category)) or "none"
            refused.append(
                f"{run.path}: round {round_} has no {scenario} for {bench} in the {category} "
                f"category (it has: {have}); report it as a measurement (`inferlab report`) or "
                "choose the other --category"
            )
            continue
        audit = _audit(run)
        kind = audit or r.mode
        groups.setdefault((str(bench), scenario), {}).setdefault(kind, []).append(run)
    entries: list[Entry] = []
    for (bench, scenario), kinds in sorted(groups.items()):
        chosen: dict[str, Run] = {}
        ignored: list[Run] = []
        for kind, group in kinds.items():
            ordered = sorted(group, key=lambda x: str(x.result.finished_at))
            chosen[kind] = ordered[-1]
            ignored += ordered[:-1]
        perf = chosen.pop("performance", None)
        if perf is None:
            refused.append(
                f"{bench} {scenario}: no performance run among the runs given; run "
                f"`inferlab run ... --scenario {scenario}` and pass its directory"
            )
            continue
        entry = Entry(bench, scenario, perf, chosen.pop("accuracy", None), ignored=ignored)
        entry.audits = {k: v for k, v in chosen.items() if k in AUDITS}
        warnings += [f"{bench} {scenario}: {w}" for w in _mismatches(entry)]
        for run in ignored:
            warnings.append(f"{bench} {scenario}: {run.path} not used (a newer run of its kind is)")
        if entry.accuracy is None:
            warnings.append(f"{bench} {scenario}: no accuracy run: accuracy/ will be missing")
        if division == "closed":
            for test in rules.benchmarks[bench].compliance:
                if test not in entry.audits:
                    warnings.append(
                        f"{bench} {scenario}: no {test} run: {test}/ will be missing "
                        f"(run with --audit {test})"
                        if test in AUDITS
                        else f"{bench} {scenario}: {test} is required and inferlab cannot run "
                        "it yet"
                    )
        entries.append(entry)
    return entries, warnings, refused


# What must be the same in the runs of one result: the system under test and its data.
SAME_CONFIG = ("backend", "device", "dtype", "variant", "model_path", "torch_mode", "fold_bn")
SAME_DATASET = ("dataset_id", "path", "total_count", "seed", "transform_key")


def _mismatches(entry: Entry) -> list[str]:
    """Differences between the performance run and the entry's other runs that make them
    results of different systems (or data)."""
    base = entry.performance.result
    out = []
    others = {"accuracy": entry.accuracy, **entry.audits}
    for kind, run in others.items():
        if run is None:
            continue
        # backend settings: flat in older results, nested now
        config = flat_view(base.config), flat_view(run.result.config)
        dataset = base.dataset or {}, run.result.dataset or {}
        for section, (a, b), keys in (
            ("config", config, SAME_CONFIG),
            ("dataset", dataset, SAME_DATASET),
        ):
            diff = [k for k in keys if a.get(k) != b.get(k)]
            if diff:
                what = ", ".join(f"{k} {a.get(k)!r} vs {b.get(k)!r}" for k in diff)
                out.append(f"the {kind} run differs from the performance run in {section}: {what}")
    return out
