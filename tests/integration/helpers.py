from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from inferlab.config import build_config
from inferlab.loadgen.accuracy_log import iter_entries
from inferlab.results.load import load_run
from inferlab.runner.api import run


def run_cfg(tmp_path: Path, sets: list[str], **flags: Any) -> dict[str, Any]:
    """Run; returns the stored result.json content (checked equal to the returned result and to
    what results.load reads back)."""
    flags = {"out": tmp_path / "runs", "cache_dir": tmp_path / "cache", **flags}
    cfg = build_config(flags=flags, sets=sets, environ={})
    result = run(cfg)
    stored = json.loads((result.run_dir / "result.json").read_text())
    assert stored == result.to_json()
    assert load_run(result.run_dir).result == result
    return stored


def logged_indices(run_dir: Path) -> list[int]:
    return [e.qsl_idx for e in iter_entries(run_dir / "mlperf_log_accuracy.json")]


def detail_errors(run_dir: Path) -> list[str]:
    out = []
    for line in (run_dir / "mlperf_log_detail.txt").read_text().splitlines():
        if '"is_error": true' in line:
            out.append(line)
    return out


def cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m inferlab ARGS`` (no INFERLAB_* variables but ``env``'s), in ``cwd`` if given."""
    import os

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("INFERLAB_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "inferlab", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=full_env,
        cwd=cwd,
    )
