"""Issue 15 item 4: an --out a run cannot write into is refused before the run (exit 2, one
``error:`` line with the fix); a disk that fills mid-run still leaves a failed result.json.

Read-only and full file systems are made with a small tmpfs in a user + mount namespace
(``unshare``); those tests skip where the kernel does not allow one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

RUN = [sys.executable, "-m", "inferlab", "run", "resnet50", "--quick", "--backend", "null"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERLAB_")}
    env["INFERLAB_CACHE_DIR"] = str(tmp_path / "cache")
    return env


def _can_unshare(*flags: str, mount: bool = True) -> bool:
    if shutil.which("unshare") is None:
        return False
    script = "mkdir d && mount -t tmpfs -o size=1m tmpfs d" if mount else "true"
    with tempfile.TemporaryDirectory() as where:
        probe = subprocess.run(
            ["unshare", *flags, "sh", "-c", script], capture_output=True, cwd=where
        )
    return probe.returncode == 0


needs_tmpfs = pytest.mark.skipif(
    not _can_unshare("--user", "--map-root-user", "--mount"),
    reason="no unprivileged user+mount namespace (unshare) for a small tmpfs",
)


def _refused(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text and "Errno" not in text, text
    errors = [ln for ln in text.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, text
    assert "(fix:" in errors[0]
    for w in words:
        assert w in errors[0], errors[0]


def test_out_under_a_regular_file_is_refused_before_the_run(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    proc = subprocess.run(
        [*RUN, "--out", "afile/runs"],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    _refused(proc, "afile is a file", "another --out")
    assert (tmp_path / "afile").read_text() == "x"


def test_out_without_write_permission_is_refused(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    cmd = [*RUN, "--out", str(ro / "runs")]
    if os.geteuid() == 0:  # root writes anywhere: drop to an unmapped user in a user namespace
        if not _can_unshare("--user", mount=False):
            pytest.skip("running as root and no user namespace to drop privileges in")
        cmd = ["unshare", "--user", *cmd]
    try:
        proc = subprocess.run(
            cmd, cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=300
        )
    finally:
        ro.chmod(0o755)
    _refused(proc, "not writable", "Permission denied", "write permission")
    assert list(ro.iterdir()) == []


def _in_tmpfs(tmp_path: Path, size: str, script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (sh) in tmp_path with a tmpfs of ``size`` mounted at ./fs."""
    body = f"mkdir -p fs && mount -t tmpfs -o size={size} tmpfs fs || exit 99\n{script}"
    proc = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", body],
        cwd=tmp_path,
        env={**_env(tmp_path), "PY": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 99, proc.stderr
    return proc


@needs_tmpfs
def test_read_only_file_system_is_refused(tmp_path: Path) -> None:
    run = " ".join(["$PY", *RUN[1:]])
    proc = _in_tmpfs(tmp_path, "4m", f"mount -o remount,ro fs && {run} --out fs/runs")
    _refused(proc, "Read-only file system", "mounted read-only")


@needs_tmpfs
def test_too_little_free_space_is_refused(tmp_path: Path) -> None:
    run = " ".join(["$PY", *RUN[1:]])
    proc = _in_tmpfs(tmp_path, "4m", f"{run} --out fs/runs; rc=$?; ls -A fs; exit $rc")
    _refused(proc, "MiB free", "at least 16.0 MiB", "free space")
    # nothing but the (empty) --out directory it made
    assert proc.stdout.split() == ["runs"]


@needs_tmpfs
def test_disk_filling_mid_run_leaves_a_failed_result(tmp_path: Path) -> None:
    """The disk fills (dd) once the run's user.conf exists: LoadGen's logs are cut short, and
    result.json is still written (in the room kept for it), failed, naming the full disk."""
    run = " ".join(["$PY", *RUN[1:]])
    script = f"""
{run} --out fs/runs --set loadgen.min_duration=4000 > out.txt 2>&1 &
pid=$!
for i in $(seq 1 600); do ls fs/runs/*/user.conf >/dev/null 2>&1 && break; sleep 0.1; done
dd if=/dev/zero of=fs/fill bs=64k >/dev/null 2>&1
wait $pid; rc=$?
cat fs/runs/*/result.json > result.copy || true
ls -A fs/runs/* > listing.txt
exit $rc
"""
    proc = _in_tmpfs(tmp_path, "24m", script)
    out = (tmp_path / "out.txt").read_text()
    assert proc.returncode == 1, out
    assert "Traceback" not in out, out
    stored = json.loads((tmp_path / "result.copy").read_text())
    assert stored["status"] == "failed"
    assert stored["error"]["kind"] == "disk-full"
    assert "is full" in stored["error"]["message"] and "another --out" in stored["error"]["message"]
    assert "result.json was written in the room kept for it" in out
    listing = (tmp_path / "listing.txt").read_text().split()
    assert ".inferlab-reserve" not in listing  # the reserve is given back
