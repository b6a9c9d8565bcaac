"""The official MLCommons submission checker, run beside inferlab's own.

Parser, finder and runner tests use fake checkers written into tmp_path and need nothing else.
The tests against the real checker need ``INFERLAB_OFFICIAL_INFERENCE`` pointing at a checkout of
github.com/mlcommons/inference (at least its ``tools/submission`` folder) and skip without it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from inferlab.core.errors import ConfigError
from inferlab.submission import official
from inferlab.submission.official import (
    OfficialChecker,
    find_official_checker,
    normalize_version,
    parse_output,
    render_verdict,
    run_official_checker,
)

STAMP = "[2026-01-02 03:04:05,678 {file}:{line} {level}] {msg}"


def log(level: str, msg: str, file: str = "main.py", line: int = 100) -> str:
    return STAMP.format(file=file, line=line, level=level, msg=msg)


def summary_block(results: int, no_results: int, ok: bool) -> list[str]:
    return [
        log("INFO", "---"),
        log("INFO", f"Results={results}, NoResults={no_results}, Power Results=0"),
        log("INFO", "---"),
        log("INFO", f"Closed Results={results}, Closed Power Results=0"),
        "",
        log("INFO", "Open Results=0, Open Power Results=0"),
        "",
        log("INFO", "Systems=1, Power Systems=0"),
        log("INFO", "Closed Systems=1, Closed Power Systems=0"),
        log("INFO", "---"),
        log("INFO", "SUMMARY: submission looks OK")
        if ok
        else log("ERROR", "SUMMARY: submission has errors"),
    ]


# ------------------------------------------------------------------ the output parser


def test_clean_summary_is_a_pass_with_counts() -> None:
    text = "\n".join(
        [
            log("INFO", "Loading System log from closed/Acme/systems/box.json", "loader.py"),
            log("INFO", "Results closed/Acme/results/box/resnet/Offline 1234.5"),
            *summary_block(results=1, no_results=0, ok=True),
        ]
    )
    v = parse_output(text, 0, checker="fake", version="v6.0")
    assert v.status == "pass" and v.ok
    assert v.errors == () and v.warnings == ()
    assert v.counts["results"] == 1
    assert v.counts["no_results"] == 0
    assert v.counts["closed_results"] == 1
    assert v.counts["systems"] == 1
    assert v.summary == "SUMMARY: submission looks OK"
    assert v.exit_code == 0 and v.exception is None


def test_error_and_warning_lines_are_collected() -> None:
    text = "\n".join(
        [
            log("WARNING", "closed/Acme/results/box/resnet/Offline uses an old loadgen", "x.py"),
            log(
                "ERROR", "closed/Acme/results/box/resnet/Offline/performance qsl_rng_seed is wrong"
            ),
            log("ERROR", "NoResults closed/Acme/results/box/resnet/Offline"),
            *summary_block(results=0, no_results=1, ok=False),
        ]
    )
    v = parse_output(text, 1)
    assert v.status == "fail" and not v.ok
    assert len(v.errors) == 2
    assert v.errors[0].endswith("qsl_rng_seed is wrong")
    assert "SUMMARY: submission has errors" not in v.errors  # kept apart, in .summary
    assert v.summary == "SUMMARY: submission has errors"
    assert v.warnings == ("closed/Acme/results/box/resnet/Offline uses an old loadgen",)
    assert v.counts["no_results"] == 1


def test_plain_logging_format_is_understood() -> None:
    text = "INFO:main:Results=0, NoResults=0, Power Results=0\nERROR:main:something is wrong\n"
    v = parse_output(text, 1)
    assert v.errors == ("something is wrong",)
    assert v.status == "fail"


def test_traceback_is_a_crash_with_the_exception_line() -> None:
    text = "\n".join(
        [
            log("INFO", "Loading System log from closed/Acme/systems/box.json", "loader.py"),
            "Traceback (most recent call last):",
            '  File "<frozen runpy>", line 198, in _run_module_as_main',
            '  File "/x/tools/submission/submission_checker/loader.py", line 249, in load',
            "    required = lower_list(self.config.get_required(model))",
            "               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
            "TypeError: 'NoneType' object is not iterable",
        ]
    )
    v = parse_output(text, 1)
    assert v.status == "crashed"
    assert v.exception == "TypeError: 'NoneType' object is not iterable"
    assert v.summary is None


def test_chained_traceback_reports_the_last_exception() -> None:
    text = "\n".join(
        [
            "Traceback (most recent call last):",
            '  File "a.py", line 1, in <module>',
            "KeyError: 'x'",
            "",
            "During handling of the above exception, another exception occurred:",
            "",
            "Traceback (most recent call last):",
            '  File "a.py", line 3, in <module>',
            "ValueError: model not known: foo",
        ]
    )
    assert parse_output(text, 1).exception == "ValueError: model not known: foo"


def test_logged_traceback_before_a_summary_is_not_a_crash() -> None:
    text = "\n".join(
        [
            "Traceback (most recent call last):",
            '  File "a.py", line 1, in check',
            "ValueError: bad log",
            log("ERROR", "closed/Acme/results/box/resnet/Offline has issues"),
            *summary_block(results=0, no_results=1, ok=False),
        ]
    )
    assert parse_output(text, 1).status == "fail"


def test_missing_dependency_says_what_to_install() -> None:
    text = "\n".join(
        [
            "Traceback (most recent call last):",
            '  File "/x/submission_checker/parsers/endpoints_parser.py", line 5, in <module>',
            "    import yaml",
            "ModuleNotFoundError: No module named 'yaml'",
        ]
    )
    v = parse_output(text, 1)
    assert v.status == "unavailable"
    assert v.message == "needs yaml: pip install pyyaml"
    assert v.exception == "ModuleNotFoundError: No module named 'yaml'"


def test_missing_own_module_points_at_the_checkout() -> None:
    text = 'Traceback (most recent call last):\n  File "x"\n'
    text += "ModuleNotFoundError: No module named 'log_parser'"
    v = parse_output(text, 1)
    assert v.status == "unavailable"
    assert v.message is not None and "full checkout" in v.message


def test_argparse_refusal_and_signals() -> None:
    usage = "usage: main.py [-h] --input INPUT\n"
    usage += "main.py: error: argument --version: invalid choice: 'v9.9'"
    v = parse_output(usage, 2)
    assert v.status == "unavailable"
    assert v.message is not None and "invalid choice" in v.message
    killed = parse_output(log("INFO", "working"), -9)
    assert killed.status == "crashed" and killed.exception == "killed by signal 9"
    assert parse_output("", 0).status == "pass"
    assert parse_output("", 3).status == "fail"


def test_tail_keeps_the_last_sixty_lines() -> None:
    text = "\n".join(log("INFO", f"line {i}") for i in range(200))
    v = parse_output(text, 0)
    assert len(v.tail) == 60
    assert v.tail[-1].endswith("line 199")


def test_render_verdict() -> None:
    text = "\n".join(
        [log("ERROR", f"problem {i}") for i in range(12)]
        + summary_block(results=0, no_results=12, ok=False)
    )
    out = render_verdict(parse_output(text, 1, checker="fake checker", version="v6.0"))
    assert out.splitlines()[0] == "Official MLCommons checker (v6.0): FAIL, exit 1"
    assert "fake checker" in out
    assert "problem 0" in out and "... and 4 more" in out
    assert "no results 12" in out
    crashed = render_verdict(parse_output("Traceback (most recent call last):\nOSError: boom", 1))
    assert "CRASHED" in crashed and "exception: OSError: boom" in crashed


def test_normalize_version() -> None:
    assert normalize_version("6.0") == "v6.0"
    assert normalize_version(" v5.1 ") == "v5.1"
    with pytest.raises(ConfigError):
        normalize_version("six")


# ------------------------------------------------------------------ fake checkers on disk

MAIN = """\
import argparse
import logging
import sys
import time
{pre}
logging.basicConfig(
    level=logging.INFO, format="[%(asctime)s %(filename)s:%(lineno)d %(levelname)s] %(message)s"
)
log = logging.getLogger("main")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", required=True)
    parser.add_argument(
        "--version",
        default="{default}",
    )
    parser.add_argument("--submitter")
    parser.add_argument("--csv", default="summary.csv")
    parser.add_argument("--skip-power-check", action="store_true")
    parser.add_argument("--submission-exceptions", action="store_true")
    args = parser.parse_args()
    log.info("ARGS %s", " ".join(sys.argv[1:]))
{body}


if __name__ == "__main__":
    sys.exit(main())
"""

PASS_BODY = """\
    with open(args.csv, "w") as fh:
        fh.write("Organization,Model\\nAcme,resnet\\n")
    log.info("Results=1, NoResults=0, Power Results=0")
    log.info("SUMMARY: submission looks OK")
    return 0
"""
FAIL_BODY = """\
    log.error("closed/Acme/results/box/resnet/Offline accuracy not valid")
    log.info("Results=0, NoResults=1, Power Results=0")
    log.error("SUMMARY: submission has errors")
    return 1
"""
CRASH_BODY = """\
    raise TypeError("'NoneType' object is not iterable")
"""
SLEEP_BODY = """\
    time.sleep(30)
"""


def model_config(versions: tuple[str, ...]) -> str:
    keys = "".join(f'    "{v}": {{\n        "models": [],\n    }},\n' for v in versions)
    return f'MODEL_CONFIG = {{\n{keys}}}\n\nOTHER = {{\n    "v9.9": 1,\n}}\n'


def write_package(sub: Path, versions: tuple[str, ...], body: str, pre: str = "") -> Path:
    pkg = sub / "submission_checker"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "constants.py").write_text(model_config(versions))
    (pkg / "main.py").write_text(MAIN.format(pre=pre, default=versions[0], body=body))
    return pkg


def write_monolith(
    sub: Path, versions: tuple[str, ...], body: str, name: str = "submission_checker_old.py"
) -> Path:
    sub.mkdir(parents=True, exist_ok=True)
    src = MAIN.format(pre=model_config(versions), default=versions[0], body=body)
    (sub / name).write_text(src)
    return sub / name


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """closed/Acme with a systems json and an empty results folder."""
    root = tmp_path / "submission"
    (root / "closed" / "Acme" / "results").mkdir(parents=True)
    (root / "closed" / "Acme" / "systems").mkdir(parents=True)
    system = {"division": "closed", "submitter": "Acme", "status": "available"}
    system |= {"system_name": "box", "system_type": "edge"}
    (root / "closed" / "Acme" / "systems" / "box.json").write_text(json.dumps(system))
    return root


def test_find_prefers_the_package_with_the_monolith_as_fallback(tmp_path: Path) -> None:
    sub = tmp_path / "inference" / "tools" / "submission"
    pkg = write_package(sub, ("v6.1", "v6.0", "v5.0"), PASS_BODY)
    mono = write_monolith(sub, ("v6.1", "v5.1"), PASS_BODY)
    for path in (tmp_path / "inference", sub):
        c = find_official_checker(path, version="v6.1")
        assert c is not None
        assert (c.kind, c.entry, c.workdir) == ("package", pkg / "main.py", sub)
        assert c.versions == ("v6.1", "v6.0", "v5.0")
        assert c.default_version == "v6.1"
        assert {"--input", "--version", "--submitter", "--csv", "--skip-power-check"} <= c.flags
        assert c.fallback is not None and c.fallback.entry == mono
        assert c.base_command()[1:] == ["-m", "submission_checker.main"]
    # only the monolith knows v5.1: it is chosen, the package is no fallback for v5.1
    c = find_official_checker(tmp_path / "inference", version="5.1")
    assert c is not None and c.kind == "monolith" and c.fallback is None
    assert c.base_command()[1:] == [str(mono)]


def test_find_accepts_the_package_dir_main_py_and_a_monolith_file(tmp_path: Path) -> None:
    sub = tmp_path / "tools" / "submission"
    pkg = write_package(sub, ("v6.0",), PASS_BODY)
    old = write_monolith(tmp_path / "v4", ("v4.0", "v4.1"), PASS_BODY, "submission_checker.py")
    for path in (pkg, pkg / "main.py"):
        c = find_official_checker(path)
        assert c is not None and c.kind == "package" and c.workdir == sub
    c = find_official_checker(old)
    assert c is not None and c.kind == "monolith" and c.workdir == old.parent
    assert c.versions == ("v4.0", "v4.1")
    # a checkout at an old tag: tools/submission/submission_checker.py is the monolith
    write_monolith(tmp_path / "tag" / "tools" / "submission", ("v5.0",), PASS_BODY, old.name)
    c = find_official_checker(tmp_path / "tag")
    assert c is not None and c.kind == "monolith" and c.versions == ("v5.0",)


def test_find_rejects_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        find_official_checker(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no MLCommons submission checker"):
        find_official_checker(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ConfigError):
        find_official_checker(tmp_path / "notes.txt")


def test_find_without_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(official.ENV_CHECKOUT, raising=False)
    with monkeypatch.context() as m:
        m.setattr(official.importlib.util, "find_spec", lambda name: None)
        assert find_official_checker(None) is None
    sub = tmp_path / "inference" / "tools" / "submission"
    write_package(sub, ("v6.0",), PASS_BODY)
    with monkeypatch.context() as m:
        m.setenv(official.ENV_CHECKOUT, str(tmp_path / "inference"))
        c = find_official_checker(None)
        assert c is not None and c.workdir == sub
    # an importable submission_checker package (tools/submission on PYTHONPATH)
    monkeypatch.syspath_prepend(str(sub))
    c = find_official_checker(None)
    assert c is not None and c.kind == "package" and c.workdir == sub


def test_run_pass_passes_only_known_flags(tree: Path, tmp_path: Path) -> None:
    c = find_official_checker(write_package(tmp_path / "ts", ("v6.0",), PASS_BODY))
    assert c is not None
    v = run_official_checker(
        c,
        tree,
        submitter="Acme",
        version="6.0",
        extra_args=["--skip-calibration-check", "--scenarios-to-skip", "Server", "--debug"],
        skip_power_check=True,
        allow_uncommitted_loadgen=True,
    )
    assert v.status == "pass" and v.exit_code == 0
    assert v.csv_rows == 1
    assert v.counts["results"] == 1
    args = next(line for line in v.tail if "ARGS" in line)
    assert f"--input {tree} --version v6.0 --submitter Acme --csv " in args
    assert "--skip-power-check" in args and "--submission-exceptions" in args
    assert "--skip-calibration-check" not in args and "Server" not in args
    assert v.message is not None and "--scenarios-to-skip Server" in v.message
    assert v.command[:3] == (sys.executable, "-m", "submission_checker.main")
    assert v.duration_s > 0


def test_run_fail_keeps_errors_and_csv_out(tree: Path, tmp_path: Path) -> None:
    c = find_official_checker(write_monolith(tmp_path / "ts", ("v5.1",), FAIL_BODY))
    assert c is not None
    v = run_official_checker(c, tree, submitter="Acme", version="v5.1", csv_out=tmp_path / "s.csv")
    assert v.status == "fail" and v.exit_code == 1
    assert v.errors == ("closed/Acme/results/box/resnet/Offline accuracy not valid",)
    assert v.counts["no_results"] == 1
    assert v.csv_rows is None  # this fake writes no csv on failure


def test_run_crash_falls_back_to_the_monolith(tree: Path, tmp_path: Path) -> None:
    sub = tmp_path / "inference" / "tools" / "submission"
    write_package(sub, ("v6.0",), CRASH_BODY)
    write_monolith(sub, ("v6.0",), FAIL_BODY)
    c = find_official_checker(tmp_path / "inference", version="v6.0")
    assert c is not None and c.kind == "package"
    alone = run_official_checker(c, tree, submitter="Acme", version="v6.0", fallback=False)
    assert alone.status == "crashed"
    assert alone.exception == "TypeError: 'NoneType' object is not iterable"
    assert alone.exit_code == 1
    v = run_official_checker(c, tree, submitter="Acme", version="v6.0")
    assert v.status == "fail" and v.checker.startswith("monolith")
    assert v.message is not None and "crashed (TypeError" in v.message


def test_run_reports_a_missing_dependency(tree: Path, tmp_path: Path) -> None:
    pkg = write_package(
        tmp_path / "ts", ("v6.0",), PASS_BODY, pre="import no_such_dep_for_inferlab"
    )
    c = find_official_checker(pkg)
    assert c is not None
    v = run_official_checker(c, tree, submitter="Acme", version="v6.0")
    assert v.status == "unavailable"
    assert v.message == "needs no_such_dep_for_inferlab: pip install no_such_dep_for_inferlab"
    assert "needs no_such_dep_for_inferlab" in render_verdict(v)


def test_run_timeout_unknown_round_and_bad_python(tree: Path, tmp_path: Path) -> None:
    c = find_official_checker(write_package(tmp_path / "ts", ("v6.0",), SLEEP_BODY))
    assert c is not None
    v = run_official_checker(c, tree, submitter="Acme", version="v6.0", timeout_s=1.5)
    assert v.status == "timeout" and v.exit_code is None
    assert v.message == "no verdict within 1.5 s"
    v = run_official_checker(c, tree, submitter="Acme", version="v4.1")
    assert v.status == "unavailable" and v.command == ()
    assert v.message is not None and "v6.0" in v.message and "not v4.1" in v.message
    broken = OfficialChecker(
        c.kind, c.entry, c.workdir, c.versions, c.flags, python=str(tmp_path / "no-python")
    )
    v = run_official_checker(broken, tree, submitter="Acme", version="v6.0")
    assert v.status == "unavailable" and v.message is not None and "could not start" in v.message


def test_run_rejects_bad_arguments(tree: Path, tmp_path: Path) -> None:
    c = find_official_checker(write_package(tmp_path / "ts", ("v6.0",), PASS_BODY))
    assert c is not None
    with pytest.raises(ConfigError):
        run_official_checker(c, tmp_path / "missing", submitter="Acme", version="v6.0")
    with pytest.raises(ConfigError):
        run_official_checker(c, tree, submitter=" ", version="v6.0")
    with pytest.raises(ConfigError):
        run_official_checker(c, tree, submitter="Acme", version="latest")
    with pytest.raises(ConfigError):
        run_official_checker(c, tree, submitter="Acme", version="v6.0", timeout_s=0)


# ------------------------------------------------------------------ the real official checker


def _checkout() -> Path:
    raw = os.environ.get(official.ENV_CHECKOUT)
    if not raw:
        pytest.skip(
            f"{official.ENV_CHECKOUT} is not set: point it at a checkout of "
            "github.com/mlcommons/inference to run the official checker"
        )
    root = Path(raw).expanduser()
    if not root.exists():
        pytest.skip(f"{official.ENV_CHECKOUT}={root} does not exist")
    return root


@pytest.fixture(scope="module")
def real_checker() -> OfficialChecker:
    root = _checkout()
    try:
        c = find_official_checker(root)
    except ConfigError as exc:
        pytest.skip(f"{official.ENV_CHECKOUT}={root}: {exc.message}")
    assert c is not None
    return c


def test_real_checker_is_found_with_its_rounds(real_checker: OfficialChecker) -> None:
    assert real_checker.versions, "no MODEL_CONFIG rounds read from the checker source"
    assert {"--input", "--version", "--submitter", "--csv"} <= real_checker.flags
    assert real_checker.default_version in real_checker.versions


def test_real_checker_on_a_tree_without_results(real_checker: OfficialChecker, tree: Path) -> None:
    for version in real_checker.versions:
        v = run_official_checker(
            real_checker, tree, submitter="Acme", version=version, fallback=False, timeout_s=300
        )
        assert v.status in ("pass", "fail", "crashed"), render_verdict(v)
        assert isinstance(v.errors, tuple) and isinstance(v.exit_code, int)
        assert v.command and v.tail
        if v.status != "crashed":
            assert v.summary is not None and v.counts.get("results") == 0
        if v.status == "fail":
            assert v.errors, "a failing verdict names its errors"


def test_every_entry_point_flags_the_empty_results_folder(
    real_checker: OfficialChecker, tree: Path
) -> None:
    checkers = [real_checker] + ([real_checker.fallback] if real_checker.fallback else [])
    monoliths = [c for c in checkers if c.kind == "monolith"]
    if not monoliths:
        pytest.skip("this checkout has no monolith checker")
    for c in monoliths:
        v = run_official_checker(c, tree, submitter="Acme", version=c.versions[0], timeout_s=300)
        assert v.status == "fail", render_verdict(v)
        assert any("NoResults closed/Acme" in e for e in v.errors)
        assert v.counts["no_results"] == 1


def test_real_checker_on_its_own_sample_tree(real_checker: OfficialChecker, tmp_path: Path) -> None:
    sample = real_checker.workdir / "directory_structure_samples" / "sample_1"
    if not sample.is_dir():
        pytest.skip("this checkout has no directory_structure_samples/sample_1")
    copy = tmp_path / "sample"
    shutil.copytree(sample, copy)
    version = next((v for v in ("v6.1", "v6.0") if real_checker.supports(v)), None)
    if version is None:
        pytest.skip("the sample tree has the v6.0+ layout; this checker has no such round")
    v = run_official_checker(real_checker, copy, submitter="AMD", version=version, fallback=False)
    # the sample's logs carry another round's seeds: never a pass; the HEAD package crashes
    assert v.status in ("fail", "crashed"), render_verdict(v)
    if v.status == "crashed":
        assert v.exception and v.tail
        fb = real_checker.fallback
        if fb is not None and fb.supports(version):
            v2 = run_official_checker(real_checker, copy, submitter="AMD", version=version)
            assert v2.status == "fail" and v2.errors and v2.counts["no_results"] > 0
            assert v2.message is not None and "crashed" in v2.message
    else:
        assert v.errors
