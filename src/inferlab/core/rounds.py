"""MLPerf rounds as typed data: seeds, which benchmarks each round has, their accuracy targets,
required scenarios per category, latency constraints, minimum sample counts, compliance tests
and the submission tree layout.

Facts from the rules file (``shared/spec/mlperf-rules.md``): §1.5 seeds, §2.1 accuracy targets,
§2.3 performance rules, §2.4 required scenarios, §2.5 layout, §5 compliance tests, §7 sizes.
Benchmark names here are the submission checker's (``resnet``, ``bert-99``); a
:class:`~inferlab.core.spec.BenchmarkSpec` names its checker name and takes its targets from
:func:`targets_by_round`, so each target is written once.

Which round an installed LoadGen serves is decided from the seeds it reads
(``inferlab.loadgen.probe``); :func:`round_for_version` is only the fallback for LoadGen releases
without a built-in mlperf.conf.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from inferlab.core.spec import AccuracyTarget

SEEDS: dict[str, tuple[int, int, int]] = {
    "v4.1": (3066443479025735752, 10688027786191513374, 14962580496156340209),
    "v5.0": (6023615788873153749, 15036839855038426416, 9933818062894767841),
    "v5.1": (1780908523862526354, 14771362308971278857, 18209322760996052031),
    "v6.0": (2465351861681999779, 14276810075590677512, 3936089224930324775),
    "v6.1": (2085463073848966840, 2747215439041700203, 16159082839903944936),
}
ROUNDS: tuple[str, ...] = tuple(SEEDS)

# Scenario directory names of a submission tree
SS, MS, SERVER, OFFLINE, INTERACTIVE = (
    "SingleStream",
    "MultiStream",
    "Server",
    "Offline",
    "Interactive",
)
CATEGORIES = ("datacenter", "edge")
DIVISIONS = ("closed", "open")

MIN_DURATION_MS = 600_000  # TEST_DURATION_MS (rules §2.3)
MAX_ACCURACY_LOG_BYTES = 10 * 1024  # a submitted accuracy log must be truncated to this
FILE_SIZE_LIMIT_BYTES = 50 * 1024 * 1024
# The detail-log field the checker reads per scenario (rules §2.3; all rounds v4.1..v6.1)
RESULT_FIELD = {
    OFFLINE: "result_samples_per_second",
    SERVER: "result_completed_samples_per_sec",
    INTERACTIVE: "result_completed_samples_per_sec",  # v6.1's RESULT_FIELD_NEW
    SS: "early_stopping_latency_ss",
    MS: "early_stopping_latency_ms",
}


def round_for_seeds(qsl: int, sample_index: int, schedule: int) -> str | None:
    for name, seeds in SEEDS.items():
        if seeds == (qsl, sample_index, schedule):
            return name
    return None


def round_for_version(version: str) -> str | None:
    """The round a LoadGen release number suggests (rules §1.5, §8.1). Only a fallback: the
    seeds a LoadGen reads decide (see ``inferlab.loadgen.probe``)."""
    try:
        parts = [int(p) for p in version.split(".")[:3]]
    except ValueError:
        return None
    while len(parts) < 3:
        parts.append(0)
    major, minor, patch = parts
    if (major, minor) == (6, 0):
        if patch >= 16:
            return "v6.1"
        if patch >= 5:
            return "v6.0"
        return None
    if (major, minor) in ((5, 1), (5, 0), (4, 1)):
        return f"v{major}.{minor}"
    return None


@dataclass(frozen=True)
class BenchmarkRules:
    """What one round's checker requires of one benchmark."""

    name: str  # checker name
    loadgen_name: str  # LoadGen config key (and compliance audit.config folder)
    dataset_size: int  # the accuracy run must cover exactly this many samples
    performance_sample_count: int
    offline_min_samples: int  # closed division: effective_samples_per_query >= this
    targets: tuple[AccuracyTarget, ...]
    required: dict[str, tuple[str, ...]]  # category -> scenario dirs that must be present
    optional: dict[str, tuple[str, ...]] = field(default_factory=dict)
    server_latency_ns: int | None = None  # effective_target_latency_ns must be <= this
    compliance: tuple[str, ...] = ()  # TEST0x directories needed (closed division)
    delta_percent: float = 1.0  # TEST01 baseline/compliance accuracy tolerance
    token_latencies: tuple[float, float] | None = None  # LLM Server TTFT/TPOT (ms)
    interactive_latencies: tuple[float, float] | None = None  # LLM Interactive TTFT/TPOT (ms)
    equal_issue: bool = False  # mlperf.conf sets sample_concatenate_permutation (rules §1.3)
    # in the checker's LLM list (get_llm_models): requested_use_token_latencies must be true in
    # every scenario, and Server/Interactive p99 TTFT/TPOT below the limits above (rules §2.3)
    llm: bool = False

    @property
    def latency_percentile(self) -> dict[str, float]:
        """target_latency_percentile per scenario, as mlperf.conf sets it (rules §1.2)."""
        return {SS: 0.9, MS: 0.99, SERVER: 0.99, INTERACTIVE: 0.99}

    def scenarios(self, category: str) -> tuple[str, ...]:
        return self.required.get(category, ()) + self.optional.get(category, ())


@dataclass(frozen=True)
class RoundRules:
    name: str
    seeds: tuple[int, int, int]
    layout: str  # "v6": results/<sys>/<bench>/<scn>/{measurements.json,TEST0x}; "v4": older
    benchmarks: dict[str, BenchmarkRules]

    def benchmark(self, name: str) -> BenchmarkRules | None:
        return self.benchmarks.get(name)


def _t(metric: str, reference: float, lower: float | None = 0.99) -> AccuracyTarget:
    return AccuracyTarget(metric=metric, reference=reference, lower=lower)


def _window(
    metric: str, reference: float, lower: float, upper: float, upper_ref: float | None = None
) -> AccuracyTarget:
    return AccuracyTarget(
        metric=metric, reference=reference, lower=lower, upper=upper, upper_reference=upper_ref
    )


def _sdxl_targets() -> tuple[AccuracyTarget, ...]:
    # absolute windows (rules §2.1): written as reference x 1.0 with the upper reference
    return (
        _window("CLIP_SCORE", 31.68631873, 1.0, 1.0, 31.81331801),
        _window("FID_SCORE", 23.01085758, 1.0, 1.0, 23.95007626),
    )


def _rouge(refs: tuple[float, float, float], lower: float) -> tuple[AccuracyTarget, ...]:
    return tuple(_t(m, r, lower) for m, r in zip(("ROUGE1", "ROUGE2", "ROUGEL"), refs, strict=True))


def _mixtral(round_: str) -> tuple[AccuracyTarget, ...]:
    if round_ == "v4.1":
        rouge, tokens, gsm8k, mbxp = (45.4911, 23.2829, 30.3615), 145.9, 73.78, 60.12
    else:  # from v5.0 the references changed but the upper limit stayed at 145.9 x 1.1
        rouge, tokens, gsm8k, mbxp = (45.5989, 23.3526, 30.4608), 144.84, 73.66, 60.16
    return (
        *_rouge(rouge, 0.99),
        _window("TOKENS_PER_SAMPLE", tokens, 0.9, 1.1, 145.9),
        _t("gsm8k_accuracy", gsm8k),
        _t("mbxp_accuracy", mbxp),
    )


_RESNET_REF = 76.46
_BERT_F1 = 90.874
_DICE = 0.86170
_AUC = 80.31
_MAP = 37.55
_GPTJ_ROUGE = (42.9865, 20.1235, 29.9881)
_LLAMA_ROUGE = (44.4312, 22.0352, 28.6162)
# llama3.1-8b and -edge (v5.1 on, rules 2.1): ROUGE1/2/L/Lsum x 0.99 and a GEN_LEN window
_LLAMA31_8B = ((38.7792, 15.9075, 24.4957, 35.793), 8_167_644)
_LLAMA31_8B_EDGE = ((39.06, 16.1147, 24.6375, 36.124), 3_051_113)


def _rouge4(refs: tuple[tuple[float, ...], int]) -> tuple[AccuracyTarget, ...]:
    rouge, gen_len = refs
    names = ("ROUGE1", "ROUGE2", "ROUGEL", "ROUGELSUM")
    return (
        *(_t(m, r) for m, r in zip(names, rouge, strict=True)),
        _window("GEN_LEN", gen_len, 0.9, 1.1),
    )


def _build(round_: str) -> RoundRules:
    old = round_ in ("v4.1", "v5.0")
    v51_plus = round_ in ("v5.1", "v6.0", "v6.1")
    b: dict[str, BenchmarkRules] = {}

    def add(rules: BenchmarkRules) -> None:
        b[rules.name] = rules

    # ResNet50: datacenter and edge through v5.0, edge only from v5.1
    add(
        BenchmarkRules(
            "resnet",
            "resnet50",
            50_000,
            1024,
            24_576,
            (_t("acc", _RESNET_REF),),
            {"edge": (SS, MS, OFFLINE)}
            if v51_plus
            else {"datacenter": (SERVER, OFFLINE), "edge": (SS, MS, OFFLINE)},
            server_latency_ns=15_000_000,
            compliance=("TEST01", "TEST04") + (("TEST05",) if round_ == "v4.1" else ()),
        )
    )
    if round_ != "v6.1":
        add(
            BenchmarkRules(
                "retinanet",
                "retinanet",
                24_781,
                64,
                24_576,
                (_t("mAP", _MAP),),
                # v6.0 lists retinanet only in the "datacenter,edge" table (rules §2.4)
                {}
                if round_ == "v6.0"
                else {"datacenter": (SERVER, OFFLINE), "edge": (SS, MS, OFFLINE)},
                server_latency_ns=100_000_000,
                compliance=("TEST01",) + (("TEST05",) if round_ == "v4.1" else ()),
            )
        )
    for suffix, lower in (("99", 0.99), ("99.9", 0.999)):
        req: dict[str, tuple[str, ...]]
        if round_ == "v4.1":
            req = {"datacenter": (SERVER, OFFLINE)}
            if suffix == "99":
                req["edge"] = (SS, OFFLINE)
        else:  # edge only from v5.0
            req = {"edge": (SS, OFFLINE)}
        add(
            BenchmarkRules(
                f"bert-{suffix}",
                "bert",
                10_833,
                10_833,
                10_833,
                (_t("F1", _BERT_F1, lower),),
                req,
                server_latency_ns=130_000_000 if round_ == "v4.1" else None,
                compliance=("TEST01",) + (("TEST05",) if round_ == "v4.1" else ()),
                delta_percent=0.1 if suffix == "99.9" else 1.0,
            )
        )
        if round_ in ("v4.1", "v5.0", "v5.1"):
            add(
                BenchmarkRules(
                    f"dlrm-v2-{suffix}",
                    "dlrm-v2",
                    330_067,
                    204_800,
                    24_576,
                    (_t("AUC", _AUC, lower),),
                    {"datacenter": (SERVER, OFFLINE)},
                    server_latency_ns=60_000_000,
                    compliance=("TEST01",) + (("TEST05",) if round_ == "v4.1" else ()),
                    delta_percent=0.1 if suffix == "99.9" else 1.0,
                )
            )
        add(
            BenchmarkRules(
                f"3d-unet-{suffix}",
                "3d-unet",
                43,
                43,
                43,
                (_t("DICE", _DICE, lower),),
                {"datacenter": (OFFLINE,), "edge": (SS, OFFLINE)},
                compliance=("TEST01",) + (("TEST05",) if round_ == "v4.1" else ()),
                equal_issue=True,
                delta_percent=0.1 if suffix == "99.9" else 1.0,
            )
        )
        if old:
            add(
                BenchmarkRules(
                    f"gptj-{suffix}",
                    "gptj",
                    13_368,
                    13_368,
                    13_368,
                    (*_rouge(_GPTJ_ROUGE, lower), _t("GEN_LEN", 4_016_878, 0.9)),
                    {"datacenter": (SERVER, OFFLINE), "edge": (SS, OFFLINE)},
                    server_latency_ns=20_000_000_000,
                    equal_issue=True,
                    delta_percent=0.1 if suffix == "99.9" else 1.0,
                )
            )
        if suffix == "99.9" or round_ != "v6.1":  # v6.1 dropped llama2-70b-99
            llm_req: dict[str, tuple[str, ...]] = {
                "datacenter": (OFFLINE,) if v51_plus else (SERVER, OFFLINE)
            }
            add(
                BenchmarkRules(
                    f"llama2-70b-{suffix}",
                    "llama2-70b",
                    24_576,
                    24_576,
                    24_576,
                    (
                        *_rouge(_LLAMA_ROUGE, lower),
                        _window("TOKENS_PER_SAMPLE", 294.45, 0.9, 1.1),
                    ),
                    llm_req,
                    optional={"datacenter": (INTERACTIVE, SERVER)} if v51_plus else {},
                    server_latency_ns=20_000_000_000,
                    compliance=("TEST06",),
                    equal_issue=True,
                    delta_percent=0.1 if suffix == "99.9" else 1.0,
                    token_latencies=(2000.0, 200.0),
                    interactive_latencies=(450.0, 40.0) if v51_plus else None,
                    llm=True,
                )
            )
    if v51_plus:  # llama3.1-8b (datacenter, TEST06) and its edge variant (rules 2.1, 2.4, 5)
        add(
            BenchmarkRules(
                "llama3.1-8b",
                "llama3_1-8b",
                13_368,
                13_368,
                13_368,
                _rouge4(_LLAMA31_8B),
                {"datacenter": (OFFLINE,)},
                optional={"datacenter": (SERVER, INTERACTIVE)},
                server_latency_ns=20_000_000_000,
                compliance=("TEST06",),
                equal_issue=True,
                token_latencies=(2000.0, 100.0),
                interactive_latencies=(500.0, 30.0),
                llm=True,
            )
        )
        add(
            BenchmarkRules(
                "llama3.1-8b-edge",
                "llama3_1-8b-edge",
                5_000,
                5_000,
                5_000,
                _rouge4(_LLAMA31_8B_EDGE),
                {"edge": (SS, OFFLINE)},
                equal_issue=True,
                llm=True,
            )
        )
    if round_ != "v6.1":
        add(
            BenchmarkRules(
                "mixtral-8x7b",
                "mixtral-8x7b",
                15_000,
                15_000,
                15_000,
                _mixtral(round_),
                {"datacenter": (SERVER, OFFLINE)},
                server_latency_ns=20_000_000_000,
                compliance=("TEST06",),
                equal_issue=True,
                token_latencies=(2000.0, 200.0),
                llm=True,
            )
        )
    add(
        BenchmarkRules(
            "stable-diffusion-xl",
            "stable-diffusion-xl",
            5_000,
            5_000,
            5_000,
            _sdxl_targets(),
            {"edge": (SS, OFFLINE)}
            if round_ in ("v6.0", "v6.1")
            else {"datacenter": (SERVER, OFFLINE), "edge": (SS, OFFLINE)},
            server_latency_ns=20_000_000_000,
            compliance=("TEST01", "TEST04"),
        )
    )
    layout = "v6" if round_ in ("v6.0", "v6.1") else "v4"
    return RoundRules(round_, SEEDS[round_], layout, b)


RULES: dict[str, RoundRules] = {r: _build(r) for r in ROUNDS}


def rules_for(round_: str) -> RoundRules:
    from inferlab.core.errors import ConfigError

    if round_ not in RULES:
        raise ConfigError(f"unknown MLPerf round {round_!r}", f"use one of {', '.join(ROUNDS)}")
    return RULES[round_]


def targets_by_round(checker_name: str) -> dict[str, tuple[AccuracyTarget, ...]]:
    """The accuracy targets of one benchmark in every round that has it (for BenchmarkSpec)."""
    return {
        r: rules.benchmarks[checker_name].targets
        for r, rules in RULES.items()
        if checker_name in rules.benchmarks
    }


def interactive_latencies(checker_name: str, round_: str) -> tuple[float, float] | None:
    """The Interactive TTFT/TPOT limits (ms) of a benchmark in a round; None where the round
    has no Interactive for it (rules §2.3 LLM_LATENCY_LIMITS)."""
    rules = RULES.get(round_)
    b = rules.benchmarks.get(checker_name) if rules else None
    return b.interactive_latencies if b else None
