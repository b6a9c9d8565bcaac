"""The plan of a suite: which runs a submission needs, from the round's rules.

For each benchmark the round has in the category: its required and optional scenarios
(``core.rounds``), and for each a performance run, an accuracy run and (closed division) the
compliance tests the round asks for it. Nothing here names a benchmark: a benchmark that joins
the registry and the round's rules joins suites.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from inferlab.core import registry
from inferlab.core.errors import ConfigError, InferlabError
from inferlab.core.rounds import CATEGORIES, DIVISIONS, rules_for
from inferlab.core.spec import Scenario

PERFORMANCE, ACCURACY = "performance", "accuracy"


@dataclass(frozen=True)
class PlannedRun:
    """One run of the suite. ``key`` names it in the state file and on the console."""

    benchmark: str
    scenario: str
    mode: str  # performance | accuracy
    audit: str | None = None  # TEST01, TEST04 (performance mode)
    required: bool = True  # the round requires the scenario (else: optional)

    @property
    def key(self) -> str:
        return f"{self.benchmark}/{self.scenario}/{self.audit or self.mode}"

    @property
    def test(self) -> str:
        return self.audit or self.mode

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "key": self.key}


@dataclass(frozen=True)
class Skipped:
    """Something the round asks for that this suite will not run, and why."""

    what: str
    why: str


@dataclass
class Plan:
    round: str
    category: str
    division: str
    benchmarks: list[str]
    runs: list[PlannedRun] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "category": self.category,
            "division": self.division,
            "benchmarks": self.benchmarks,
            "runs": [r.as_dict() for r in self.runs],
            "skipped": [asdict(s) for s in self.skipped],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        runs = [
            PlannedRun(
                benchmark=r["benchmark"],
                scenario=r["scenario"],
                mode=r["mode"],
                audit=r.get("audit"),
                required=bool(r.get("required", True)),
            )
            for r in d.get("runs", [])
        ]
        skipped = [Skipped(s["what"], s["why"]) for s in d.get("skipped", [])]
        return cls(d["round"], d["category"], d["division"], list(d["benchmarks"]), runs, skipped)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    v = value.strip().lower()
    if v not in choices:
        raise ConfigError(f"unknown {name} {value!r}", f"use one of {', '.join(choices)}")
    return v


def expand_benchmarks(names: list[str]) -> list[str]:
    """Benchmark ids for ``names``: an id, an alias, or a family name that several ids share
    (e.g. the two accuracy targets of one model); in registry order, each once."""
    ids = registry.benchmark_ids()
    out: list[str] = []
    for name in names:
        key = name.strip().lower()
        family = [b for b in ids if b.startswith(f"{key}-")]
        if key not in ids and family:  # a family: every accuracy target it has
            found = family
        else:
            found = [registry.canonical_id(key)]
        out += [b for b in found if b not in out]
    return out


def _audit_supported(test: str, loadgen_name: str) -> str | None:
    """None when inferlab runs ``test`` for this model; else why not."""
    from inferlab.submission.compliance import audit_config_text

    try:
        audit_config_text(test, loadgen_name)
    except InferlabError as exc:
        return f"inferlab does not run {test} for it ({exc.message})"
    return None


def make_plan(
    benchmarks: list[str] | None,
    *,
    category: str,
    division: str = "closed",
    round_: str,
) -> Plan:
    """The runs of a suite. ``benchmarks`` None: every registered benchmark the round has in
    ``category`` (those without data are dropped later, by the caller, with why)."""
    category = _check_choice("category", category, CATEGORIES)
    division = _check_choice("division", division, DIVISIONS)
    rules = rules_for(round_)  # ConfigError for a round inferlab does not know
    wanted = expand_benchmarks(benchmarks) if benchmarks else registry.benchmark_ids()
    plan = Plan(round_, category, division, [])
    for bid in wanted:
        spec = registry.get(bid)
        br = rules.benchmark(spec.checker_name)
        if br is None:
            if benchmarks:  # asked for by name: say why it is not run
                plan.skipped.append(Skipped(bid, f"round {round_} has no {spec.checker_name}"))
            continue
        scenarios = br.scenarios(category)
        if not scenarios:
            others = [c for c in CATEGORIES if br.scenarios(c)]
            why = f"round {round_} has no {category} {spec.checker_name}"
            if others:
                why += f" (only {', '.join(others)}: --category {others[0]})"
            plan.skipped.append(Skipped(bid, why))
            continue
        plan.benchmarks.append(bid)
        required = set(br.required.get(category, ()))
        for name in scenarios:
            where = f"{bid} {name}"
            try:
                scenario = Scenario.parse(name)
            except ConfigError:  # a scenario of the round's that inferlab has no name for
                plan.skipped.append(Skipped(where, f"inferlab has no {name} scenario"))
                continue
            if scenario not in spec.scenarios:
                plan.skipped.append(Skipped(where, f"inferlab does not run {bid} in {name}"))
                continue
            req = name in required
            plan.runs.append(PlannedRun(bid, name, PERFORMANCE, None, req))
            plan.runs.append(PlannedRun(bid, name, ACCURACY, None, req))
            if division != "closed":
                continue
            for test in br.compliance:
                unsupported = _audit_supported(test, spec.loadgen_name)
                if unsupported is None:
                    plan.runs.append(PlannedRun(bid, name, PERFORMANCE, test, req))
                else:
                    plan.skipped.append(Skipped(f"{where} {test}", unsupported))
    if benchmarks is not None and not plan.runs:
        raise ConfigError(
            f"nothing to run for {', '.join(benchmarks)} in {category} (round {round_}): "
            + "; ".join(f"{s.what}: {s.why}" for s in plan.skipped),
            "choose the category (or --round) that has them; `inferlab suite --dry-run` shows "
            "the plan",
        )
    return plan
