"""Issue 15 item 6: files that are not UTF-8, and checkpoints refused for holding code.

Each bad file gives one ``error:`` line naming the file, where the first bad byte is (offset,
line, column) and the fix, with exit code 2 and no traceback; a checkpoint that would run code
when unpickled is refused as such (not called corrupt), with the conversion for a trusted file;
a truncated checkpoint is still called corrupt."""

from __future__ import annotations

import codecs
import os
from pathlib import Path

import pytest

from tests.integration.helpers import cli
from tests.integration.imagenet_fixture import make_imagenet_dir

FAST = ("--backend", "null", "--quick", "--mode", "accuracy", "-q")
LATIN1 = "# caf\xe9 au lait\n".encode("latin-1")  # 0xe9 at offset 5 of line 1


def _error_line(proc) -> str:  # type: ignore[no-untyped-def]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def _not_utf8(line: str, path: Path, offset: int, lineno: int, column: int) -> None:
    assert f"{path} is not UTF-8 text" in line, line
    assert f"at offset {offset} (line {lineno}, column {column})" in line, line


def test_user_conf_and_yaml_not_utf8(tmp_path: Path) -> None:
    conf = tmp_path / "user.conf"
    conf.write_bytes(b"*.Offline.min_query_count = 8\n" + LATIN1)
    proc = cli("run", "resnet50", *FAST, "--user-conf", str(conf), "--out", str(tmp_path / "r"))
    line = _error_line(proc)
    _not_utf8(line, conf, 30 + 5, 2, 6)
    assert "fix: save it as UTF-8" in line
    yml = tmp_path / "c.yaml"
    yml.write_bytes(b"scenario: Offline\n" + LATIN1)
    line = _error_line(cli("run", "resnet50", "--config", str(yml), "--out", str(tmp_path / "r")))
    _not_utf8(line, yml, 18 + 5, 2, 6)
    assert "fix: save it as UTF-8" in line
    assert not (tmp_path / "r").exists()


def test_utf16_and_bom(tmp_path: Path) -> None:
    """What Windows writes: UTF-16 (PowerShell's >) is named; a UTF-8 byte-order mark is read."""
    yml = tmp_path / "c.yaml"
    yml.write_bytes("scenario: Offline\n".encode("utf-16"))
    line = _error_line(cli("run", "resnet50", "--config", str(yml)))
    assert f"{yml} is UTF-16 text" in line and "save it as UTF-8" in line
    conf = tmp_path / "user.conf"  # parsed past the mark: its value is what is refused
    conf.write_bytes(codecs.BOM_UTF8 + b"*.Offline.target_qps = -5\n")
    line = _error_line(cli("run", "resnet50", "--user-conf", str(conf)))
    assert f"{conf}:1: target_qps=-5 is out of range" in line


def test_val_map_not_utf8(tmp_path: Path) -> None:
    ds, _ = make_imagenet_dir(tmp_path / "val", 2)
    val_map = ds / "val_map.txt"
    good = val_map.read_bytes()
    val_map.write_bytes(good + LATIN1)
    proc = cli("run", "resnet50", *FAST, "--dataset-path", str(ds), "--out", str(tmp_path / "r"))
    line = _error_line(proc)
    _not_utf8(line, val_map, len(good) + 5, 3, 6)
    assert "save it as UTF-8" in line and "permissions" not in line
    assert not (tmp_path / "r").exists()


def test_squad_and_vocab_not_utf8(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from tests.integration.test_bert import write_squad_dir

    data = write_squad_dir(tmp_path / "data")
    vocab = data / "vocab.txt"
    raw = vocab.read_bytes()
    at = raw.index(b"museum") + 3
    vocab.write_bytes(raw.replace(b"museum", b"mus\xe9um"))
    args = ("run", "bert-99", *FAST, "--dataset-path", str(data), "--out", str(tmp_path / "r"))
    line = _error_line(cli(*args))
    _not_utf8(line, vocab, at, raw[:at].count(b"\n") + 1, 4)
    vocab.write_bytes(raw)
    squad = data / "dev-v1.1.json"
    squad.write_bytes(squad.read_bytes().replace(b"The old", b"The \xf6ld", 1))
    line = _error_line(cli(*args))
    assert f"{squad} is not UTF-8 text: byte 0xf6 at offset" in line
    assert not (tmp_path / "r").exists()


class _RunsCode:
    """Unpickling this calls os.system: it would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_holding_code_is_refused_not_called_corrupt(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {"fc.bias": torch.zeros(2)}, "x": _RunsCode(marker)}, evil)
    args = ("run", "resnet50", "--backend", "torch", "--quick", "--mode", "accuracy", "-q")
    proc = cli(*args, "--model-path", str(evil), "--out", str(tmp_path / "r"))
    line = _error_line(proc)
    assert not marker.exists()
    assert f"{evil} was refused" in line and "the file is not corrupt" in line
    assert f"holds pickled code ({os.system.__module__}.system" in line
    assert "only if you trust the file" in line and "weights_only=False" in line
    assert str(tmp_path / "evil.state_dict.pth") in line
    cut = tmp_path / "cut.pth"
    torch.save({"fc.bias": torch.zeros(2)}, cut)
    cut.write_bytes(cut.read_bytes()[:200])
    line = _error_line(cli(*args, "--model-path", str(cut), "--out", str(tmp_path / "r")))
    # found before the run (item 8): a damaged archive is called truncated, never "refused"
    assert f"{cut} is a damaged zip archive" in line and "truncated" in line
    assert "refused" not in line
    # one that looks whole but that torch cannot read: the worker's load names it corrupt
    import zipfile

    bad = tmp_path / "bad.pth"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("bad/data.pkl", b"not a pickle")
    line = _error_line(cli(*args, "--model-path", str(bad), "--out", str(tmp_path / "r")))
    assert f"{bad} is not loadable" in line and "corrupt, truncated" in line
    assert "refused" not in line
