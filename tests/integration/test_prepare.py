"""inferlab prepare / check end to end on a loopback HTTP server (no network): downloads and
archives verified and recorded, a second prepare is a no-op that makes no request, manual
sources print their steps, a user-placed file is verified, --from goes through the importer a
source declares (and is refused for a dataset that declares none), an incomplete ImageNet copy
is refused with the missing count, and `check` reads the manifest."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inferlab.core.errors import DataError
from inferlab.data.manifest import Manifest
from inferlab.data.prepare import DONE, FAILED, FETCHED, IMPORTED, MANUAL, prepare, prepare_sources
from inferlab.data.sources import (
    BenchmarkSources,
    Source,
    all_benchmarks,
    canonical_benchmark,
    sources_for,
)
from tests.data_server import DataServer
from tests.integration.helpers import cli

MODEL = b"weights" * 5000
CITE = ("tests",)


def _targz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _bench(srv: DataServer, archive: bytes) -> BenchmarkSources:
    return BenchmarkSources(
        benchmark="toy",
        description="a toy benchmark",
        sources=(
            Source(
                id="models/toy/model.bin",
                kind="model",
                what="toy weights",
                acquisition="download",
                cited_from=CITE,
                urls=(srv.url("/model.bin"),),
                size_bytes=len(MODEL),
                sha256=hashlib.sha256(MODEL).hexdigest(),
                checksum_published_by="the test",
            ),
            Source(
                id="toy-data",
                kind="dataset",
                what="toy dataset",
                acquisition="download",
                cited_from=CITE,
                urls=(srv.url("/data.tar.gz"),),
                directory=True,
                archive="tar.gz",
                size_bytes=len(archive),
                md5=hashlib.md5(archive).hexdigest(),
                checksum_published_by="the test",
                file_count=2,
            ),
            Source(
                id="toy-manual",
                kind="auxiliary",
                what="a gated file",
                acquisition="manual",
                cited_from=CITE,
                steps=("Ask for access.", "Put the file at <root>/toy-manual."),
                md5=hashlib.md5(b"secret").hexdigest(),
                checksum_published_by="the test",
            ),
        ),
    )


def test_prepare_fetches_verifies_records_and_then_does_nothing(tmp_path: Path) -> None:
    archive = _targz({"a.txt": b"alpha", "sub/b.txt": b"beta"})
    with DataServer({"/model.bin": MODEL, "/data.tar.gz": archive}) as srv:
        bs = _bench(srv, archive)
        root = tmp_path / "root"
        first = prepare_sources(bs, root, bs.sources, progress=False)
        actions = {i.id: i.action for i in first.items}
        assert actions == {
            "models/toy/model.bin": FETCHED,
            "toy-data": FETCHED,
            "toy-manual": MANUAL,
        }
        assert first.exit_code() == 3 and first.manual[0].steps[0] == "Ask for access."
        assert (root / "models/toy/model.bin").read_bytes() == MODEL
        assert (root / "toy-data" / "sub" / "b.txt").read_bytes() == b"beta"
        assert not (root / ".inferlab" / "downloads" / "data.tar.gz").exists()
        m = Manifest.load(root)
        assert m.get("toy-data").file_count == 2  # type: ignore[union-attr]
        assert m.get("models/toy/model.bin").sha256 == hashlib.sha256(MODEL).hexdigest()  # type: ignore[union-attr]
        n_requests = len(srv.requests)

        (root / "toy-manual").write_bytes(b"secret")  # the user follows the steps
        second = prepare_sources(bs, root, bs.sources, progress=False)
        assert len(srv.requests) == n_requests  # nothing downloaded again
        actions = {i.id: i.action for i in second.items}
        assert actions == {"models/toy/model.bin": DONE, "toy-data": DONE, "toy-manual": IMPORTED}
        third = prepare_sources(bs, root, bs.sources, progress=False)
        assert third.noop and third.exit_code() == 0

        (root / "toy-data" / "a.txt").write_bytes(b"changed!")  # changed after verification
        fourth = prepare_sources(bs, root, bs.sources, progress=False)
        assert {i.id: i.action for i in fourth.items}["toy-data"] == FETCHED
        assert (root / "toy-data" / "a.txt").read_bytes() == b"alpha"


def test_a_wrong_user_file_and_a_bad_download_fail_with_the_fix(tmp_path: Path) -> None:
    archive = _targz({"a.txt": b"alpha"})
    with DataServer({"/model.bin": b"tampered" * 10, "/data.tar.gz": archive}) as srv:
        bs = _bench(srv, archive)
        root = tmp_path / "root"
        (root).mkdir()
        (root / "toy-manual").write_bytes(b"not the secret")
        res = prepare_sources(bs, root, bs.sources, progress=False)
        items = {i.id: i for i in res.items}
        assert items["models/toy/model.bin"].action == FAILED
        assert items["toy-manual"].action == FAILED and "md5 differs" in items["toy-manual"].detail
        assert items["toy-data"].action == FETCHED
        assert res.exit_code() == 1
        assert Manifest.load(root).get("models/toy/model.bin") is None


IMPORTS: list[dict[str, object]] = []  # what _toy_importer was called with


def _toy_importer(
    source: Source,
    root: Path,
    from_path: Path,
    record: Callable[[str, str], None],
    options: Mapping[str, Path],
) -> str:
    """A source's --from importer (an inferlab.data.prepare.Importer) for the tests."""
    IMPORTS.append({"id": source.id, "from": from_path, "options": dict(options)})
    if not (from_path / "data.txt").is_file():
        raise DataError(f"no data.txt in {from_path}", "pass the folder that holds data.txt")
    dest = root / source.path
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "data.txt").write_bytes((from_path / "data.txt").read_bytes())
    record(f"user-provided from {from_path}", "toy check")
    return f"1 file from {from_path}"


def _importable() -> BenchmarkSources:
    manual = Source(
        id="toy-set",
        kind="dataset",
        what="a dataset with no public download",
        acquisition="manual",
        cited_from=CITE,
        directory=True,
        steps=("Get a copy.", "Run inferlab prepare toy --from PATH."),
        importer=f"{__name__}:_toy_importer",
    )
    other = replace(manual, id="toy-other", importer=None)
    return BenchmarkSources("toy", "a toy benchmark", (manual, other))


def test_from_goes_through_the_importer_the_source_declares(tmp_path: Path) -> None:
    IMPORTS.clear()
    bs = _importable()
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "data.txt").write_text("hello")
    root = tmp_path / "root"
    devkit = tmp_path / "labels.tgz"
    res = prepare_sources(bs, root, bs.sources[:1], from_path=copy, devkit=devkit)
    (item,) = res.items
    assert (item.action, item.detail) == (IMPORTED, f"1 file from {copy}")
    assert IMPORTS == [{"id": "toy-set", "from": copy, "options": {"devkit": devkit}}]
    entry = Manifest.load(root).get("toy-set")
    assert entry is not None and entry.verification == "toy check"
    assert entry.source == f"user-provided from {copy}"
    assert (root / "toy-set" / "data.txt").read_text() == "hello"
    # without --from the source is manual, and the imported copy is already prepared
    assert [i.action for i in prepare_sources(bs, root, bs.sources[:1]).items] == [DONE]
    # an importer's refusal is the item's failure, with its fix; nothing is recorded
    IMPORTS.clear()
    res = prepare_sources(bs, tmp_path / "root2", bs.sources[:1], from_path=tmp_path)
    (item,) = res.items
    assert item.action == FAILED and "no data.txt" in item.detail and item.fix
    assert IMPORTS[0]["options"] == {}  # no importer options given
    assert Manifest.load(tmp_path / "root2").get("toy-set") is None


def test_from_on_a_dataset_without_importer_is_refused(tmp_path: Path) -> None:
    IMPORTS.clear()
    bs = _importable()
    res = prepare_sources(bs, tmp_path / "root", bs.sources[1:], from_path=tmp_path)
    (item,) = res.items
    assert item.action == FAILED
    assert item.detail == (
        "--from cannot import toy-other: it declares no importer (toy declares one for toy-set)"
    )
    assert "rerun prepare to verify them" in item.fix
    assert IMPORTS == []  # the other source's importer was not used
    # a benchmark none of whose sources declares an importer
    kits = sources_for("3d-unet-99")
    res = prepare_sources(kits, tmp_path / "root", [kits.source("kits19")], from_path=tmp_path)
    assert res.items[0].detail == "--from cannot import kits19: it declares no importer"
    with pytest.raises(DataError, match="--model-only"):
        prepare("resnet50", tmp_path / "root", model_only=True, from_path=tmp_path)


def _jpeg(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)).save(path, "JPEG")


def test_incomplete_imagenet_copy_is_refused_with_the_missing_count(tmp_path: Path) -> None:
    src = tmp_path / "val"
    src.mkdir()
    for i in (1, 2, 3):
        _jpeg(src / f"ILSVRC2012_val_{i:08d}.JPEG", i)
    (src / "val_map.txt").write_text(
        "".join(f"ILSVRC2012_val_{i:08d}.JPEG {i}\n" for i in (1, 2, 3))
    )
    bs = sources_for("resnet50")
    res = prepare_sources(bs, tmp_path / "root", [bs.source("imagenet2012-val")], from_path=src)
    (item,) = res.items
    assert item.action == FAILED
    assert "49,997 of 50,000 images missing (ILSVRC2012_val_00000004.JPEG" in item.detail
    assert Manifest.load(tmp_path / "root").get("imagenet2012-val") is None


def test_cli_dry_run_lists_every_benchmark_and_check_reads_the_manifest(tmp_path: Path) -> None:
    for b in [*all_benchmarks(), "gpt-j-99", "sdxl"]:
        proc = cli("prepare", b, "--dry-run")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(f"{canonical_benchmark(b)}: ")
        assert "total to download:" in proc.stdout
    bad = cli("prepare", "resnet51", "--dry-run")
    assert bad.returncode == 2 and "resnet50" in bad.stderr
    root = tmp_path / "root"
    root.mkdir()
    proc = cli("check", "resnet50", "--data-dir", str(root), "--json")
    rep = json.loads(proc.stdout)
    assert proc.returncode == 1 and not rep["ok"]
    failed = {c["name"] for c in rep["checks"] if c["status"] == "fail"}
    assert "imagenet2012-val" in failed


@pytest.mark.parametrize("verify_full", [False, True])
def test_check_passes_on_prepared_data_and_catches_changes(
    tmp_path: Path, verify_full: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inferlab.runner.preflight import Report, check_data

    archive = _targz({"a.txt": b"alpha"})
    with DataServer({"/model.bin": MODEL, "/data.tar.gz": archive}) as srv:
        bs = _bench(srv, archive)
        root = tmp_path / "root"
        prepare_sources(bs, root, bs.sources[:2], progress=False)
    monkeypatch.setattr("inferlab.data.sources.sources_for", lambda name: bs)
    r = Report()
    check_data(r, "toy", root, verify_full=verify_full)
    status = {c.name: c.status for c in r.checks}
    assert status["models/toy/model.bin"] == "ok" and status["toy-data"] == "ok"
    assert status["toy-manual"] == "warn"  # auxiliary, not prepared
    assert status["disk space"] == "ok"
    # same size and mtime: only a re-hash sees the change
    p = root / "models/toy/model.bin"
    st = p.stat()
    p.write_bytes(b"X" + MODEL[1:])
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    r2 = Report()
    check_data(r2, "toy", root, verify_full=verify_full)
    status = {c.name: c.status for c in r2.checks}
    assert status["models/toy/model.bin"] == ("fail" if verify_full else "ok")
    (root / "toy-data" / "a.txt").unlink()
    r3 = Report()
    check_data(r3, "toy", root)
    assert {c.name: c.status for c in r3.checks}["toy-data"] == "fail" and not r3.ok


def test_run_refuses_data_changed_since_prepare(tmp_path: Path) -> None:
    from inferlab.core.errors import DataError
    from inferlab.data.manifest import describe
    from tests.integration.helpers import run_cfg
    from tests.integration.imagenet_fixture import make_imagenet_dir

    root = tmp_path / "root"
    make_imagenet_dir(root / "imagenet2012-val", 4, seed=2)
    m = Manifest.load(root)
    m.record(describe(root, "imagenet2012-val", source="test fixture", hash=False))
    m.save()
    flags = {"benchmark": "resnet50", "variant": "tiny", "data_dir": root, "mode": "accuracy"}
    res = run_cfg(tmp_path, ["calibrate=false"], **flags)
    assert res["status"] == "ok"
    assert list(res["data_checks"].values()) == [
        f"verified {m.get('imagenet2012-val').verified_at}"  # type: ignore[union-attr]
    ]
    victim = root / "imagenet2012-val" / "ILSVRC2012_val_00000002.JPEG"
    victim.write_bytes(victim.read_bytes()[:100])  # truncated after it was verified
    with pytest.raises(DataError, match="changed since `inferlab prepare` verified it"):
        run_cfg(tmp_path, ["calibrate=false"], **flags)


def test_mirrors_are_tried_in_order_and_an_unreachable_set_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mirror that cannot be reached passes to the next at once (no retry waits); when none
    can be reached, one failure names each host's reason and the network; mixed failures name
    each mirror's."""
    from tests.integration.test_prepare_messages import _closed_port, _resolves_quickly_to_nothing

    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    port = _closed_port()
    closed = f"http://127.0.0.1:{port}/model.bin"
    with DataServer({"/model.bin": MODEL}) as srv:
        model = _bench(srv, b"").sources[0]
        good = replace(model, urls=(closed, srv.url("/model.bin")))
        bs = BenchmarkSources("toy", "a toy benchmark", (good,))
        res = prepare_sources(bs, tmp_path / "a", bs.sources, progress=False)
        assert [i.action for i in res.items] == [FETCHED]
        assert Manifest.load(tmp_path / "a").get(model.id).source == srv.url("/model.bin")  # type: ignore[union-attr]
        mixed = replace(model, urls=(closed, srv.url("/gone.bin")))
        res = prepare_sources(
            replace(bs, sources=(mixed,)), tmp_path / "b", [mixed], progress=False
        )
        (item,) = res.items
        assert item.action == FAILED and item.detail == (
            f"no mirror of {model.id} worked ({closed}: connection refused: 127.0.0.1:{port}; "
            f"{srv.url('/gone.bin')}: HTTP 404 Not Found)"
        )
    dns = _resolves_quickly_to_nothing("nonexistent.invalid")
    hosts = (closed, "http://nonexistent.invalid/model.bin") if dns else (closed,)
    down = replace(model, urls=hosts)
    res = prepare_sources(bs, tmp_path / "c", [down], progress=False)
    (item,) = res.items
    reasons = f"connection refused: 127.0.0.1:{port}"
    reasons += "; name resolution failed: nonexistent.invalid" if dns else ""
    assert item.detail == f"no mirror of {model.id} could be reached ({reasons})"
    dest = tmp_path / "c" / model.id
    assert item.fix.endswith(f"or download {closed} by hand to {dest}")
    assert "HTTPS_PROXY" in item.fix and not dest.with_name("model.bin.part").exists()
