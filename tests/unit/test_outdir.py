"""runner.outdir: the room kept for result.json, given back when the disk is full."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

import pytest

from inferlab.core.errors import ConfigError
from inferlab.runner import outdir


def test_reserve_is_used_only_when_the_disk_is_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bool] = []
    real = outdir.atomic_write_json

    def full_while_reserved(path: Path, data: Any) -> None:
        reserved = (tmp_path / outdir.RESERVE_NAME).exists()
        calls.append(reserved)
        if reserved:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(outdir, "atomic_write_json", full_while_reserved)
    reserve = outdir.ResultReserve(tmp_path, size=4096)
    assert reserve.held and (tmp_path / outdir.RESERVE_NAME).stat().st_size == 4096
    assert reserve.write_result(tmp_path / "result.json", {"status": "failed"}) is True
    assert calls == [True, False]
    assert json.loads((tmp_path / "result.json").read_text()) == {"status": "failed"}
    assert not (tmp_path / outdir.RESERVE_NAME).exists()


def test_other_write_errors_are_not_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(path: Path, data: Any) -> None:
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(outdir, "atomic_write_json", denied)
    reserve = outdir.ResultReserve(tmp_path, size=16)
    with pytest.raises(PermissionError):
        reserve.write_result(tmp_path / "result.json", {})
    assert not (tmp_path / outdir.RESERVE_NAME).exists()  # given back all the same


def test_check_out_dir_creates_it_and_refuses_a_file_on_the_way(tmp_path: Path) -> None:
    outdir.check_out_dir(tmp_path / "a" / "b", min_free=0)
    assert (tmp_path / "a" / "b").is_dir() and list((tmp_path / "a" / "b").iterdir()) == []
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigError, match="is a file"):
        outdir.check_out_dir(tmp_path / "f" / "x" / "y", min_free=0)
    with pytest.raises(ConfigError, match="at least"):
        outdir.check_out_dir(tmp_path / "a", min_free=2**62)
