"""The data/model source registry: coverage, well-formed records, totals, the dry-run text."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from inferlab.core.errors import ConfigError
from inferlab.data.sizes import SizeTotal, human_bytes
from inferlab.data.sources import (
    ACQUISITIONS,
    KINDS,
    SOURCE_TABLES,
    BenchmarkSources,
    Source,
    all_benchmarks,
    canonical_benchmark,
    dry_run_lines,
    find_source,
    resolve_ref,
    sources_for,
)

IN_SCOPE = [
    "resnet50",
    "retinanet",
    "ssd-mobilenet",
    "ssd-resnet34",
    "bert-99",
    "bert-99.9",
    "rnnt",
    "3d-unet-99",
    "3d-unet-99.9",
    "dlrm-v2-99",
    "dlrm-v2-99.9",
    "gptj-99",
    "gptj-99.9",
    "llama2-70b-99",
    "llama2-70b-99.9",
    "llama3.1-8b",
    "llama3.1-8b-edge",
    "mixtral-8x7b",
    "stable-diffusion-xl",
]
ALIASES = {
    "resnet": "resnet50",
    "bert": "bert-99",
    "gptj": "gptj-99",
    "gpt-j": "gptj-99",
    "gpt-j-99": "gptj-99",
    "gpt-j-99.9": "gptj-99.9",
    "llama2-70b": "llama2-70b-99",
    "3d-unet": "3d-unet-99",
    "dlrm-v2": "dlrm-v2-99",
    "sdxl": "stable-diffusion-xl",
    "mixtral": "mixtral-8x7b",
    "ssd-small": "ssd-mobilenet",
    "ssd-large": "ssd-resnet34",
    "SDXL": "stable-diffusion-xl",
}
PAIRS = ["bert", "3d-unet", "dlrm-v2", "gptj", "llama2-70b"]
LEGACY = {"ssd-mobilenet": "v2.0", "ssd-resnet34": "v2.0", "rnnt": "v4.0", "gptj-99": "v5.0"}


def _all_sources() -> list[Source]:
    return [s for b in all_benchmarks() for s in sources_for(b).sources]


def _source(**kw: object) -> Source:
    base: dict[str, object] = dict(
        id="x/file.bin",
        kind="dataset",
        what="a file",
        acquisition="download",
        urls=("https://example.org/file.bin",),
        cited_from=("a document",),
    )
    base.update(kw)
    return Source(**base)  # type: ignore[arg-type]


def test_every_benchmark_in_scope_is_covered() -> None:
    assert sorted(all_benchmarks()) == sorted(IN_SCOPE)
    for bid in IN_SCOPE:
        assert sources_for(bid).benchmark == bid
        assert sources_for(bid.upper()).benchmark == bid


@pytest.mark.parametrize(("alias", "bid"), sorted(ALIASES.items()))
def test_aliases_resolve(alias: str, bid: str) -> None:
    assert canonical_benchmark(alias) == bid
    assert sources_for(alias).benchmark == bid


@pytest.mark.parametrize("base", PAIRS)
def test_accuracy_pairs_share_sources(base: str) -> None:
    a, b = sources_for(f"{base}-99"), sources_for(f"{base}-99.9")
    assert a.sources is b.sources
    assert a.legacy == b.legacy


def test_last_rounds_of_benchmarks_still_current_in_v6_0() -> None:
    for bid in ("retinanet", "mixtral-8x7b", "llama2-70b-99"):
        b = sources_for(bid)
        assert b.last_round == "v6.0" and not b.legacy and "v6.1" in b.legacy_note, bid
    for bid in ("llama2-70b-99.9", "resnet50", "stable-diffusion-xl", "bert-99"):
        assert sources_for(bid).last_round is None, bid


def test_unknown_benchmark_names_the_known_ids() -> None:
    with pytest.raises(ConfigError) as err:
        sources_for("resnet51")
    assert err.value.fix is not None
    for bid in IN_SCOPE:
        assert bid in err.value.fix


def test_every_source_is_well_formed() -> None:
    sources = _all_sources()
    assert sources
    for s in sources:
        assert s.problems() == [], s.id
        assert s.cited_from and all(c.strip() for c in s.cited_from), s.id
        assert s.kind in KINDS and s.acquisition in ACQUISITIONS
        if s.acquisition in ("download", "r2-manifest"):
            assert s.urls, s.id
        if s.acquisition == "r2-manifest":
            assert all(u.startswith("https://") and u.endswith(".uri") for u in s.urls), s.id
        if s.acquisition in ("manual", "generated"):
            assert s.steps, s.id
        for value in (s.size_bytes, s.installed_bytes, s.file_count, s.sample_count):
            assert value is None or value >= 0, s.id
        assert all(u.startswith(("http://", "https://")) for u in s.urls), s.id
        assert not s.path.startswith("/") and ".." not in s.path.split("/"), s.id
        if not s.unverified:
            assert s.checksum_published_by and "MLCommons" in s.checksum_published_by, s.id
        if s.kind == "model":
            assert s.path.startswith("models/"), s.id


def test_a_source_id_means_one_thing_everywhere() -> None:
    seen: dict[str, Source] = {}
    for s in _all_sources():
        assert seen.setdefault(s.id, s) == s, s.id
    assert find_source("imagenet2012-val").kind == "dataset"
    with pytest.raises(ConfigError):
        find_source("nope")


def test_legacy_benchmarks_are_marked_with_their_last_round() -> None:
    for bid, last in LEGACY.items():
        b = sources_for(bid)
        assert b.legacy and b.last_round == last and b.legacy_note, bid
    assert sources_for("gptj-99.9").legacy
    assert sources_for("dlrm-v2").legacy  # gone from v6.0 (rules file section 2.4)
    for bid in ("resnet50", "bert-99", "3d-unet-99", "llama2-70b-99.9", "stable-diffusion-xl"):
        assert not sources_for(bid).legacy, bid
    # sources only retired benchmarks use carry the legacy flag too
    assert all(s.legacy for s in sources_for("ssd-mobilenet").sources)
    assert all(s.legacy for s in sources_for("rnnt").sources)


def test_imagenet_is_manual_with_50000_files_and_printed_steps() -> None:
    src = sources_for("resnet50").source("imagenet2012-val")
    assert src.acquisition == "manual" and src.gated
    assert src.file_count == 50_000 and src.sample_count == 50_000
    assert src.size_bytes == 6_744_924_160
    assert src.path == "imagenet2012-val/"
    steps = " ".join(src.steps)
    assert "image-net.org" in steps and "ILSVRC2012_img_val.tar" in steps
    assert "inferlab prepare resnet50 --from" in steps
    assert "val_map.txt" in steps and "devkit" in steps


def test_resnet50_models_and_calibration_lists() -> None:
    b = sources_for("resnet50")
    pth = b.source("models/resnet50/resnet50-19c8e357.pth")
    assert pth.sha256_prefix == "19c8e357" and pth.variant == "pytorch"
    assert any("download.pytorch.org" in u for u in pth.urls)
    onnx = b.source("models/resnet50/resnet50_v1.onnx")
    assert any("2592612" in u for u in onnx.urls) and onnx.md5 and onnx.variant == "onnx"
    cal = b.of_kind("calibration")
    names = [s.id for s in cal]
    assert "mlperf-calibration/ImageNet/cal_image_list_option_1.txt" in names
    option_1 = b.source("mlperf-calibration/ImageNet/cal_image_list_option_1.txt")
    assert option_1.file_count == 500 and option_1.sha256 and not option_1.unverified
    assert option_1.urls[0].endswith("calibration/ImageNet/cal_image_list_option_1.txt")


def test_bert_sources() -> None:
    b = sources_for("bert")
    dev = b.source("squad-v1.1/dev-v1.1.json")
    assert dev.acquisition == "download" and dev.md5 and dev.sample_count == 10_833
    assert any("3733896" in u for u in b.source("models/bert/model.pytorch").urls)
    assert any("3733910" in u for u in b.source("models/bert/model.onnx").urls)
    assert b.source("squad-v1.1/vocab.txt").kind == "auxiliary"


def test_gated_llm_checkpoints_are_manual_with_steps() -> None:
    llama = sources_for("llama2-70b").source("models/llama2-70b/Llama-2-70b-chat-hf")
    assert llama.acquisition == "manual" and llama.gated
    assert any(".uri" in u for u in llama.urls)
    assert "llama2.mlcommons.org" in " ".join(llama.steps)
    for bid in ("mixtral-8x7b", "stable-diffusion-xl", "gptj-99", "dlrm-v2-99"):
        assert any(s.acquisition == "r2-manifest" for s in sources_for(bid).sources), bid


def test_registry_specs_find_their_files_where_the_sources_put_them() -> None:
    from inferlab.core import registry

    for bid in registry.BENCHMARKS:  # the built-in ones (a plugin brings no source table)
        spec = registry.get(bid)
        b = sources_for(bid)
        paths = [s.path for s in b.sources]
        assert any(p.startswith(spec.dataset_id) for p in paths), bid
        for v in spec.variants:
            if v.checkpoint_name:
                ends = (p.rstrip("/").endswith("/" + v.checkpoint_name) for p in paths)
                assert any(ends), (bid, v.name)  # a file, or a checkpoint folder


def test_total_download_bytes_sums_known_sizes_and_names_unknown_ones() -> None:
    b = sources_for("resnet50")
    total = b.total_download_bytes()
    primaries = [s for s in b.sources if s.alternative_to is None]
    assert total.known_bytes == sum(s.size_bytes or 0 for s in primaries)
    assert total.known_bytes >= 6_744_924_160 + 102_502_400
    assert "models/resnet50/resnet50_v1.onnx" in total.unknown
    assert not total.complete and "unknown size" in total.describe()
    # alternatives are never counted
    assert all(not i.endswith("@opset-11") for i in total.unknown)
    data = b.total_download_bytes(data_only=True)
    assert data.complete and data.known_bytes < total.known_bytes
    pth_only = b.total_download_bytes(model_only=True, variant="pytorch")
    assert pth_only.complete and pth_only.known_bytes == 102_502_400


def test_size_total_describe() -> None:
    assert SizeTotal(2048).describe() == "2.0 KiB"
    assert SizeTotal(0, ("a",)).describe().startswith("unknown")
    text = SizeTotal(3 * 1024**3, ("a", "b")).describe()
    assert text.startswith("at least 3.0 GiB") and "2 sources" in text and "a, b" in text
    assert SizeTotal(1024, (), ("x",)).describe() == "~1.0 KiB"
    assert human_bytes(5) == "5 B" and human_bytes(6_744_924_160) == "6.3 GiB"


def test_for_options() -> None:
    b = sources_for("resnet50")
    models = b.for_options(model_only=True)
    assert models and all(s.kind == "model" for s in models)
    data = b.for_options(data_only=True)
    assert data and all(s.kind != "model" for s in data)
    assert {s.kind for s in data} >= {"dataset", "calibration"}
    assert [s.variant for s in b.for_options(model_only=True, variant="onnx")] == ["onnx"]
    assert len(b.for_options(include_alternatives=True)) > len(b.for_options())
    with pytest.raises(ConfigError):
        b.for_options(model_only=True, data_only=True)
    with pytest.raises(ConfigError):
        b.for_options(variant="tflite")


def test_dry_run_lines_for_resnet50() -> None:
    lines = dry_run_lines("resnet")
    text = "\n".join(lines)
    assert lines[0].startswith("resnet50:")
    imagenet = next(line for line in lines if "] imagenet2012-val:" in line)
    assert "manual" in imagenet and "6.3 GiB" in imagenet and "GATED" in imagenet
    assert "md5" in imagenet
    assert "image-net.org" in text and "1. " in text
    assert "97.8 MiB" in text  # the PyTorch state dict
    assert "size unknown" in text  # the ONNX file
    assert "unverified" in text
    assert ".inferlab/manifest.json" in text
    assert lines[-2].startswith("  total to download: at least 6.4 GiB")
    assert "imagenet2012-val" in lines[-1] and "manual" in lines[-1]


def test_dry_run_lines_options_and_markers() -> None:
    models = "\n".join(dry_run_lines("resnet50", model_only=True))
    assert "imagenet2012-val" not in models and "resnet50-19c8e357.pth" in models
    data = "\n".join(dry_run_lines("resnet50", data_only=True))
    assert "resnet50-19c8e357.pth" not in data and "cal_image_list_option_1.txt" in data
    legacy = dry_run_lines("ssd-small")
    assert "LEGACY: last round v2.0" in legacy[0]
    assert any("(legacy" in line or ", legacy" in line for line in legacy)
    r2 = "\n".join(dry_run_lines("sdxl", model_only=True))
    assert "r2-manifest" in r2 and ".uri" in r2 and "R2 downloader" in r2
    assert "total to download: unknown" in r2


def test_source_validation_rejects_incomplete_records() -> None:
    _source()  # well-formed
    bad: list[dict[str, object]] = [
        dict(urls=()),  # download without urls
        dict(acquisition="manual", urls=()),  # manual without steps
        dict(acquisition="generated"),  # generated without steps
        dict(acquisition="r2-manifest"),  # a manifest url must be a .uri
        dict(cited_from=()),
        dict(kind="weights"),
        dict(acquisition="torrent"),
        dict(size_bytes=-1),
        dict(md5="abc"),
        dict(md5="0" * 32),  # a checksum without who publishes it
        dict(unverified=False),  # verified needs a checksum published by MLCommons
        dict(md5="0" * 32, checksum_published_by="someone", unverified=False),
        dict(size_approximate=True),
    ]
    for kw in bad:
        with pytest.raises(ValueError):
            _source(**kw)
    ok = _source(md5="0" * 32, checksum_published_by="MLCommons (x)", unverified=False)
    assert not ok.unverified and ok.checksum_summary() == "md5 published by MLCommons"


def test_benchmark_sources_validation() -> None:
    a = _source()
    with pytest.raises(ValueError):
        BenchmarkSources("x", "x", (a, a))
    with pytest.raises(ValueError):
        BenchmarkSources("x", "x", (replace(a, id="y", alternative_to="missing"),))
    b = BenchmarkSources("x", "x", (a, replace(a, id="b", size_bytes=10)))
    assert b.total_download_bytes() == SizeTotal(10, ("x/file.bin",), ())
    with pytest.raises(ConfigError):
        b.source("nope")


def test_import_is_cheap() -> None:
    code = (
        "import sys\n"
        "from inferlab.data import sources\n"
        "assert not [m for m in sys.modules if m.startswith('inferlab.benchmarks')]\n"
        "sources.dry_run_lines('llama2-70b')\n"
        "heavy = sorted(\n"
        "    m for m in ('torch', 'mlperf_loadgen', 'numpy', 'PIL') if m in sys.modules\n"
        ")\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_repository_files_match_an_official_checkout() -> None:
    """Sizes and sha256 of the files taken from mlcommons/inference, against a checkout
    (INFERLAB_OFFICIAL_INFERENCE) when one is given; they were computed at the pinned commit."""
    import hashlib
    import os
    from pathlib import Path

    from inferlab.data.sources_cite import INF_FULL, RAW

    root = os.environ.get("INFERLAB_OFFICIAL_INFERENCE")
    if not root:
        pytest.skip("set INFERLAB_OFFICIAL_INFERENCE to an mlcommons/inference checkout")
    checked = 0
    for s in {s.id: s for s in _all_sources()}.values():
        if not s.urls or not s.urls[0].startswith(RAW) or s.sha256 is None:
            continue
        local = Path(root) / s.urls[0].removeprefix(RAW)
        if not local.is_file():
            continue
        data = local.read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (s.size_bytes, s.sha256), (
            f"{s.id} differs from {local} (facts were taken at {INF_FULL[:8]})"
        )
        checked += 1
    assert checked


def test_every_source_table_resolves_in_order_with_unique_ids() -> None:
    """SOURCE_TABLES: each "module:attr" names a tuple of BenchmarkSources in its benchmark's
    package; together they list every benchmark once, in all_benchmarks() order."""
    ids: list[str] = []
    for ref in SOURCE_TABLES:
        module = ref.partition(":")[0]
        assert module.startswith("inferlab.benchmarks.") and module.endswith(".sources"), ref
        table = resolve_ref(ref)
        assert isinstance(table, tuple) and table, ref
        assert all(isinstance(b, BenchmarkSources) for b in table), ref
        ids += [b.benchmark for b in table]
    assert len(ids) == len(set(ids))
    assert ids == all_benchmarks() == IN_SCOPE
    assert len(SOURCE_TABLES) == len(set(SOURCE_TABLES))


def test_declared_hooks_resolve_to_callables() -> None:
    """Every importer and preprocessed-cache reference a table declares can be resolved."""
    hooks = [s.importer for s in _all_sources() if s.importer is not None]
    hooks += [sources_for(b).preprocessed_cache for b in all_benchmarks()]
    assert any(hooks)
    for ref in filter(None, hooks):
        assert callable(resolve_ref(ref)), ref
    assert sources_for("resnet50").preprocessed_cache_bytes() == 50_000 * 224 * 224 * 3
    assert sources_for("gptj").preprocessed_cache_bytes() == 0
    with pytest.raises(ValueError):
        _source(importer="not a reference")
    with pytest.raises(ValueError):
        BenchmarkSources("x", "x", (_source(),), preprocessed_cache="nope")
    with pytest.raises(ValueError):
        resolve_ref("inferlab.data.sources")


def test_data_package_imports_no_benchmark_package() -> None:
    """The tables import inferlab.data.sources (the types); data/ names them only as strings."""
    data = Path(__file__).resolve().parents[2] / "src" / "inferlab" / "data"
    offenders = []
    for path in data.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.startswith("inferlab.benchmarks")]
    assert offenders == []
