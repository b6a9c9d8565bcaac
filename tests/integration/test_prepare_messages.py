"""Issue 15 item 8: what `inferlab prepare` says when a download fails, through the real CLI.

No network is needed: the real sources' URLs go through a proxy (HTTP_PROXY / HTTPS_PROXY)
that is a loopback test server, a closed loopback port, or a host name that never resolves
(``.invalid``, RFC 6761). A failed download says exactly what was kept ("N bytes kept in
<file>.part for a resume", or "nothing was kept"); a source none of whose mirrors can be reached
says so in one line, naming why each could not, the network and proxy settings and where a copy
downloaded by hand goes; a file prepare reads that is not UTF-8 (ImageNet's val_map.txt, the
devkit's ground truth; BERT's bert_config.json at run time) is named with the offset of its first
bad byte and the fix, without a traceback."""

from __future__ import annotations

import json
import socket
import subprocess
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.data_server import DataServer
from tests.integration.helpers import cli

DEV_CLEAN = "http://www.openslr.org/resources/12/dev-clean.tar.gz"  # rnnt's dataset (http)
SQUAD = "squad-v1.1/dev-v1.1.json"  # bert's dataset: two https mirrors


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proxied(proxy: str, https_proxy: str | None = None) -> dict[str, str]:
    """Every request through ``proxy`` (lower-case names win in urllib: set both)."""
    env = {}
    for name, value in (("http_proxy", proxy), ("https_proxy", https_proxy or proxy)):
        env[name] = env[name.upper()] = value
    env["no_proxy"] = env["NO_PROXY"] = ""
    return env


def _item(proc: subprocess.CompletedProcess[str], source_id: str) -> tuple[str, str]:
    """(the item's line, its fix) in prepare's output; no traceback, exit code 1."""
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    (i,) = [k for k, ln in enumerate(lines) if ln.startswith(f"{source_id}: failed - ")]
    assert lines[i + 1].startswith("    fix: "), proc.stdout
    return lines[i], lines[i + 1]


def test_a_download_that_fails_says_what_was_kept(tmp_path: Path) -> None:
    """Retries without progress at 0 bytes: the empty .part is deleted and the message says
    nothing was kept (it used to say "0 bytes kept in ....part" about a file it had deleted)."""
    root = tmp_path / "root"
    with DataServer() as srv:
        srv.behave(DEV_CLEAN, status=503)  # the proxy answers 503 Service Unavailable
        closed = f"http://127.0.0.1:{_closed_port()}"  # https (the calibration list): refused
        proc = cli("prepare", "rnnt", "--data-only", "--data-dir", str(root), "-q",
                   env=_proxied(srv.url(""), closed))  # fmt: skip
        assert len(srv.requests_for(DEV_CLEAN)) == 4  # the first try and 3 retries
    line, fix = _item(proc, "librispeech/dev-clean.tar.gz")
    part = root / "librispeech" / "dev-clean.tar.gz.part"
    assert not part.exists()
    assert f"download of {DEV_CLEAN} failed after 3 retries without progress" in line, line
    assert "HTTP 503" in line and line.endswith("; nothing was kept"), line
    assert "bytes kept" not in line and "resume" not in fix, fix
    # with bytes from an earlier try, they are kept and said so (here the proxy is closed)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"\x1f\x8b" * 500)
    port = _closed_port()
    proc = cli("prepare", "rnnt", "--data-only", "--data-dir", str(root), "-q",
               env=_proxied(f"http://127.0.0.1:{port}"))  # fmt: skip
    line, fix = _item(proc, "librispeech/dev-clean.tar.gz")
    assert part.stat().st_size == 1000
    assert line.endswith(f"; 1000 bytes kept in {part} for a resume"), line
    assert "nothing was kept" not in line


def _resolves_quickly_to_nothing(host: str, within_s: float = 3.0) -> bool:
    """Whether this machine's resolver says at once that ``host`` does not exist."""
    answer: list[bool] = []

    def look() -> None:
        try:
            socket.getaddrinfo(host, 80)
            answer.append(False)
        except OSError:
            answer.append(True)

    t = threading.Thread(target=look, daemon=True)
    t.start()
    t.join(within_s)
    return answer == [True]


def test_no_mirror_reachable_names_the_network(tmp_path: Path) -> None:
    """Every mirror refused (a closed proxy port) or unresolvable: one line per source naming
    why, the proxy settings and where to put a copy downloaded by hand; exit 1, no traceback."""
    root = tmp_path / "root"
    port = _closed_port()
    proxy = f"http://127.0.0.1:{port}"
    args = ("prepare", "bert-99", "--data-only", "--data-dir", str(root), "-q")
    proc = cli(*args, env=_proxied(proxy))
    line, fix = _item(proc, SQUAD)
    assert line == (
        f"{SQUAD}: failed - no mirror of {SQUAD} could be reached "
        f"(connection refused: proxy 127.0.0.1:{port})"
    ), line
    assert "HTTPS_PROXY" in fix and f"now {proxy}" in fix, fix
    assert f"by hand to {root / SQUAD}" in fix, fix
    assert not (root / f"{SQUAD}.part").exists()
    assert "trying the next mirror" in proc.stderr  # both of SQuAD's mirrors were tried

    if not _resolves_quickly_to_nothing("nonexistent.invalid"):
        pytest.skip("this machine's resolver does not answer quickly for nonexistent.invalid")
    proc = cli(*args, env=_proxied(proxy, "http://nonexistent.invalid:3128"))
    line, fix = _item(proc, SQUAD)
    assert line.endswith("could be reached (name resolution failed: proxy nonexistent.invalid)"), (
        line
    )


def _jpeg(path: Path) -> None:
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(path, "JPEG")


LATIN1 = "# caf\xe9\n".encode("latin-1")  # 0xe9 at offset 5 of its line


def test_imagenet_label_files_not_utf8(tmp_path: Path) -> None:
    """val_map.txt beside the images and the devkit's ground truth (a folder or the tarball)."""
    val = tmp_path / "val"
    val.mkdir()
    for i in (1, 2):
        _jpeg(val / f"ILSVRC2012_val_{i:08d}.JPEG")
    first = b"ILSVRC2012_val_00000001.JPEG 1\n"
    (val / "val_map.txt").write_bytes(first + LATIN1)
    root = tmp_path / "root"
    closed = _proxied(f"http://127.0.0.1:{_closed_port()}")  # the other sources fail at once
    base = ("prepare", "resnet50", "--data-only", "--data-dir", str(root), "-q", "--from")
    line, fix = _item(cli(*base, str(val), env=closed), "imagenet2012-val")
    assert f"{val / 'val_map.txt'} is not UTF-8 text: byte 0xe9 at offset {len(first) + 5} " \
        "(line 2, column 6)" in line, line  # fmt: skip
    assert "save it as UTF-8" in fix and "--devkit" in fix

    (val / "val_map.txt").unlink()
    devkit = tmp_path / "devkit"
    (devkit / "data").mkdir(parents=True)
    (devkit / "data" / "meta.mat").write_bytes(b"not read: the ground truth comes first")
    truth = devkit / "data" / "ILSVRC2012_validation_ground_truth.txt"
    truth.write_bytes(b"490\n361\n\xff\n")
    line, fix = _item(cli(*base, str(val), "--devkit", str(devkit), env=closed), "imagenet2012-val")
    assert f"ground truth {truth} is not UTF-8 text: byte 0xff at offset 8 (line 3, column 1)" \
        in line, line  # fmt: skip
    assert "re-download ILSVRC2012_devkit_t12.tar.gz" in fix
    tgz = tmp_path / "ILSVRC2012_devkit_t12.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(devkit, arcname="ILSVRC2012_devkit_t12")
    line, fix = _item(cli(*base, str(val), "--devkit", str(tgz), env=closed), "imagenet2012-val")
    member = "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt"
    assert f"ground truth {member} in {tgz} is not UTF-8 text: byte 0xff at offset 8" in line
    assert "re-download" in fix
    assert not (root / "imagenet2012-val" / "val_map.txt").exists()


def test_bert_config_not_utf8(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from inferlab.benchmarks.bert.model import BertConfig, build_bert_qa
    from inferlab.benchmarks.bert.spec import TINY_ARCH
    from tests.integration.test_bert import VOCAB, write_squad_dir

    data = tmp_path / "data"
    write_squad_dir(data)
    model_dir = data / "models" / "bert"
    model_dir.mkdir(parents=True)
    config = BertConfig(vocab_size=len(VOCAB), **TINY_ARCH)  # type: ignore[arg-type]
    torch.save(build_bert_qa(config).state_dict(), model_dir / "model.pytorch")
    head = json.dumps({"hidden_size": config.hidden_size}).encode()[:-1]
    cfg = model_dir / "bert_config.json"
    cfg.write_bytes(head + b', "note": "caf\xe9"}')
    offset = len(head) + len(b', "note": "caf')
    proc = cli("run", "bert-99", "--data-dir", str(data), "--quick", "--mode", "accuracy", "-q",
               "--out", str(tmp_path / "runs"))  # fmt: skip
    assert "Traceback" not in proc.stderr and proc.returncode == 2, proc.stderr
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert f"BERT config {cfg} is not UTF-8 text: byte 0xe9 at offset {offset} " \
        f"(line 1, column {offset + 1})" in line, line  # fmt: skip
    assert "save it as UTF-8" in line and "UnicodeDecodeError" not in line
