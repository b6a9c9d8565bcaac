"""Compliance TEST06 (LLM output consistency): the verifier and the submission files.

Written from the behaviour of mlcommons/inference ``compliance/TEST06/run_verification.py``
(HEAD). The run (performance mode, ``audit.config`` from :func:`~inferlab.submission.compliance.
audit_config_text`) logs about 100 responses to ``mlperf_log_accuracy.json``; three checks follow,
each over every logged response, decoded as int32 token ids:

- first token (not for Offline, printed ``Skipped``): the streamed first token(s) in
  ``token_data`` equal the start of ``data``;
- EOS: the response ends with zero or one EOS token (the official loop looks from the last
  token back to index 1; two EOS tokens at the end fail);
- sample length: ``token_count`` (the ``n_tokens`` the SUT reported) is the number of tokens in
  ``data``.

The official script's EOS id is its ``--eos_token_id`` default, 2, for every model (it has no
per-model table; a value given on its command line stays a string and never equals a token), so
inferlab checks id 2 as well. The submission checker then only reads the three ``... pass:``
lines of ``verify_accuracy.txt`` (``First token`` may be ``True`` or ``Skipped``).

Pure Python + numpy; LoadGen is never imported here.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from inferlab.core.errors import DataError, InferlabError, UnsupportedError
from inferlab.core.files import atomic_write_text
from inferlab.loadgen.accuracy_log import ACCURACY_LOG_NAME, AccuracyEntry, iter_entries

if TYPE_CHECKING:
    from inferlab.submission.findings import CheckerBase

PathArg = str | os.PathLike[str]

#: run_verification.py's ``--eos_token_id`` default, the id it checks for every model.
TEST06_EOS_TOKEN_ID = 2
#: run_verification.py's ``--dtype`` choices and default.
TEST06_DTYPES: dict[str, Any] = {
    "int64": np.int64,
    "int32": np.int32,
    "int16": np.int16,
    "float32": np.float32,
}
TEST06_DTYPE = "int32"
#: The official script's messages when a check raises (its spelling).
EOS_ERROR = "Unexpected error occured while doing the EOS check"
FIRST_TOKEN_ERROR = "Unexpected error occured while doing the first token check"


@dataclass(frozen=True)
class Test06Verdict:
    """One run_verification.py result. ``first_token`` is None where it is skipped (Offline);
    ``messages``: the error lines the official script prints before its report; ``reasons``:
    inferlab's explanation of each failed check (not part of the official output)."""

    first_token: bool | None
    eos: bool
    sample_length: bool
    messages: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.first_token is not False and self.eos and self.sample_length

    @property
    def text(self) -> str:
        """verify_accuracy.txt, line for line as the official script writes it."""
        first = "Skipped" if self.first_token is None else str(self.first_token)
        return (
            f"First token check pass: {first}\n"
            f"EOS check pass: {self.eos}\n"
            f"Sample length check pass: {self.sample_length}\n"
            f"TEST06 verification {'complete' if self.passed else 'failed'}\n"
        )

    @property
    def printed(self) -> str:
        """What the official script prints: its error lines, then the report (print adds a
        blank line)."""
        return "".join(m + "\n" for m in self.messages) + self.text + "\n"


def _tokens(hex_data: str, dtype: Any) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(hex_data), dtype=dtype)  # raises ValueError like theirs


def _eos(entries: list[AccuracyEntry], dtype: Any, eos_id: int) -> tuple[bool, str]:
    for e in entries:
        data = _tokens(e.data, dtype)
        i, n_eos = data.shape[0] - 1, 0
        while i > 0:  # as the official loop: index 0 is never looked at
            if data[i] == eos_id:
                n_eos += 1
            if n_eos >= 2:
                return False, f"qsl_idx {e.qsl_idx} ends with two or more EOS tokens ({eos_id})"
            if data[i] != eos_id:
                break
            i -= 1
    return True, ""


def _first_token(entries: list[AccuracyEntry], dtype: Any) -> tuple[bool, str]:
    for e in entries:
        data = _tokens(e.data, dtype)
        if e.token_data is None:
            raise KeyError(f"qsl_idx {e.qsl_idx} has no token_data (no first token was reported)")
        first = _tokens(e.token_data, dtype)
        for t1, t2 in zip(data, first, strict=False):
            if t1 != t2:
                return False, f"qsl_idx {e.qsl_idx}: first token {t2} but the output starts {t1}"
    return True, ""


def _sample_length(entries: list[AccuracyEntry], dtype: Any) -> tuple[bool, str]:
    for e in entries:
        try:
            n = len(_tokens(e.data, dtype))
        except ValueError as exc:
            return False, f"qsl_idx {e.qsl_idx}: undecodable data ({exc})"
        if e.token_count is None:  # the official script stops with a KeyError here
            return False, f"qsl_idx {e.qsl_idx} has no token_count (n_tokens not reported)"
        if n != e.token_count:
            return False, f"qsl_idx {e.qsl_idx}: token_count {e.token_count} but {n} tokens"
    return True, ""


def verify_test06(
    accuracy_log: PathArg,
    scenario: str,
    *,
    eos_token_id: int = TEST06_EOS_TOKEN_ID,
    dtype: str = TEST06_DTYPE,
) -> Test06Verdict:
    """Check a TEST06 run's ``mlperf_log_accuracy.json`` as run_verification.py does."""
    if dtype not in TEST06_DTYPES:
        raise UnsupportedError(f"unknown TEST06 dtype {dtype!r}", "use " + ", ".join(TEST06_DTYPES))
    np_dtype = TEST06_DTYPES[dtype]
    entries = list(iter_entries(accuracy_log))
    messages: list[str] = []
    reasons: list[str] = []
    try:
        eos, why = _eos(entries, np_dtype, eos_token_id)
    except (ValueError, KeyError) as exc:
        messages.append(EOS_ERROR)
        eos, why = False, f"EOS check: {exc}"
    reasons += [why] if why else []
    first: bool | None = None
    if scenario != "Offline":
        try:
            first, why = _first_token(entries, np_dtype)
        except (ValueError, KeyError) as exc:
            messages.append(FIRST_TOKEN_ERROR)
            first, why = False, f"first token check: {str(exc).strip(chr(39))}"
        reasons += [why] if why else []
    length, why = _sample_length(entries, np_dtype)
    reasons += [why] if why else []
    return Test06Verdict(first, eos, length, tuple(messages), tuple(reasons))


def write_test06(
    out_dir: PathArg,
    *,
    test_run_dir: PathArg,
    scenario: str,
    eos_token_id: int = TEST06_EOS_TOKEN_ID,
    dtype: str = TEST06_DTYPE,
) -> dict[str, Any]:
    """Fill ``out_dir`` (the submission's ``.../<scenario>/TEST06``) as run_verification.py
    does: ``verify_accuracy.txt`` and ``accuracy/mlperf_log_accuracy.json`` (the run's log,
    copied whole). Verified before the first file is written."""
    log = Path(test_run_dir) / ACCURACY_LOG_NAME
    if not log.is_file():
        raise DataError(
            f"compliance run output missing: {log}",
            "point at the LoadGen output directory of the TEST06 run",
        )
    verdict = verify_test06(log, scenario, eos_token_id=eos_token_id, dtype=dtype)
    out = Path(out_dir)
    atomic_write_text(out / "verify_accuracy.txt", verdict.text)
    target = out / "accuracy" / ACCURACY_LOG_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    os.close(fd)
    try:
        shutil.copyfile(log, tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return {
        "test": "TEST06",
        "accuracy_pass": verdict.passed,
        "first_token_pass": verdict.first_token,
        "eos_pass": verdict.eos,
        "sample_length_pass": verdict.sample_length,
        "eos_token_id": eos_token_id,
        "reasons": list(verdict.reasons),
        "report": verdict.text,
    }


def check_tree_test06(report: CheckerBase, tdir: Path) -> None:
    """As the official checker: the three pass lines of verify_accuracy.txt (the first token
    may be Skipped), and the logged responses, verified again."""
    va, log = tdir / "verify_accuracy.txt", tdir / "accuracy" / "mlperf_log_accuracy.json"
    if not (report.need(va) & report.need(log)):
        return
    lines = [line.strip() for line in va.read_text(errors="replace").splitlines()]
    first = "First token check pass: True" in lines or ("First token check pass: Skipped" in lines)
    eos, length = "EOS check pass: True" in lines, "Sample length check pass: True" in lines
    if not (first and eos and length):
        report.error(
            "compliance-failed",
            va,
            f"TEST06 failed: first token {first}, EOS {eos}, sample length {length}",
            "report n_tokens and the streamed first token as produced, stop at one EOS; "
            "rerun TEST06",
        )
        return
    scenario = tdir.parent.name
    try:
        verdict = verify_test06(log, scenario)
    except InferlabError as exc:
        report.error("compliance-inconsistent", log, f"TEST06 log unreadable: {exc}", "rerun")
        return
    if not verdict.passed:
        report.error(
            "compliance-inconsistent",
            va,
            "says TEST06 passed but its log fails: " + "; ".join(verdict.reasons),
            "rerun TEST06 and rebuild",
        )
