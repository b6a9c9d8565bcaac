"""The torch backend's fast modes on CPU: BatchNorm folding, channels_last, bf16, compile (with
its on-disk cache), predict_tensor, and the settings that need CUDA (cudagraph, tf32)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from inferlab.backends.torch.config import TorchBackendConfig, default_graph_batches
from inferlab.core.errors import ConfigError, DataError, ModelError, UnsupportedError

pytest.importorskip("torch")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from inferlab.backends.torch.backend import CudaGraphs, TorchBackend  # noqa: E402
from inferlab.benchmarks.bert.model import BertConfig, build_bert_qa  # noqa: E402
from inferlab.benchmarks.resnet50.model import build_resnet50  # noqa: E402
from inferlab.metrics.class_logits import compare_class_logits  # noqa: E402
from inferlab.models.fuse import (  # noqa: E402
    fold_batchnorm,
    fold_batchnorm_pairs,
    foldable_pairs,
    recalibrate_batchnorm,
)

TINY_PAIRS = 1 + 4 * 3 + 4  # stem, three per bottleneck, four downsamples


def tiny(seed: int = 0, classes: int = 100) -> nn.Module:
    torch.manual_seed(seed)
    return build_resnet50(classes, width=8, layers=(1, 1, 1, 1)).eval()


def images(n: int, seed: int, size: int = 32) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def calibrated(seed: int = 0) -> nn.Module:
    """A tiny random ResNet whose predictions vary across random images."""
    return recalibrate_batchnorm(tiny(seed), images(128, seed=1))


def randomise_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                if m.affine:
                    m.weight.copy_(0.5 + torch.rand(c, generator=g))
                    m.bias.copy_(0.2 * torch.randn(c, generator=g))
                if m.running_mean is not None and m.running_var is not None:
                    m.running_mean.copy_(0.2 * torch.randn(c, generator=g))
                    m.running_var.copy_(0.5 + torch.rand(c, generator=g))
    return model.eval()


def forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x)


def max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / a.abs().max())


def bn_params(model: nn.Module) -> int:
    return sum(
        p.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()
    )


# ---- fold_batchnorm -------------------------------------------------------------------------


def test_fold_tiny_resnet_matches_and_leaves_the_input_alone() -> None:
    model = randomise_bn(tiny())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = images(4, seed=2)
    expected = forward(model, x)
    folded, pairs = fold_batchnorm_pairs(model)
    assert len(pairs) == TINY_PAIRS
    assert ("conv1", "bn1") in pairs and ("layer1.0.downsample.0", "layer1.0.downsample.1") in pairs
    assert max_rel(expected, forward(folded, x)) < 1e-4
    # the input keeps its BatchNorms and values
    after = model.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert isinstance(model.get_submodule("layer2.0.bn2"), nn.BatchNorm2d)
    # the copy: BNs gone, convs carry the bias; BN params (2C) out, conv biases (C) in
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert isinstance(folded.get_submodule("layer2.0.bn2"), nn.Identity)
    assert folded.get_submodule("layer2.0.conv2").bias is not None
    n_before = sum(p.numel() for p in model.parameters())
    n_after = sum(p.numel() for p in folded.parameters())
    assert n_after == n_before - bn_params(model) // 2
    assert n_after < n_before


def test_fold_full_resnet50_one_small_image() -> None:
    torch.manual_seed(0)
    model = randomise_bn(build_resnet50(), seed=3)
    x = images(1, seed=2, size=64)
    folded, pairs = fold_batchnorm_pairs(model)
    assert len(pairs) == 53
    assert max_rel(forward(model, x), forward(folded, x)) < 1e-4
    n_before = sum(p.numel() for p in model.parameters())
    assert sum(p.numel() for p in folded.parameters()) == n_before - bn_params(model) // 2


def test_fold_generic_sequential_and_named_pairs() -> None:
    torch.manual_seed(0)
    seq = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=True),
        nn.BatchNorm2d(4, affine=False),
        nn.ReLU(),
        nn.Conv2d(4, 4, 1, groups=2, bias=False),
        nn.BatchNorm2d(4),
        nn.BatchNorm2d(4, track_running_stats=False),  # batch statistics: never folded
    )

    class Named(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)
            self.bn = nn.BatchNorm2d(4)
            self.conv_a = nn.Conv2d(4, 4, 1)
            self.bn_b = nn.BatchNorm2d(4)  # different suffix: not a pair
            self.body = seq

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x) + self.bn_b(self.conv_a(self.bn(self.conv(x))))

    model = randomise_bn(Named())
    pairs = foldable_pairs(model)
    assert pairs == [("conv", "bn"), ("body.0", "body.1"), ("body.3", "body.4")]
    x = images(2, seed=4, size=8)
    assert max_rel(forward(model, x), forward(fold_batchnorm(model), x)) < 1e-5


def test_fold_needs_eval_mode() -> None:
    with pytest.raises(ModelError, match="training mode") as info:
        fold_batchnorm(tiny().train())
    assert "eval()" in str(info.value)
    model = tiny()
    model.get_submodule("layer3.0.bn1").train()
    with pytest.raises(ModelError, match="layer3.0.bn1"):
        fold_batchnorm(model)


def test_fold_bert_folds_nothing() -> None:
    torch.manual_seed(0)
    bert = build_bert_qa(
        BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    ).eval()
    assert foldable_pairs(bert) == []
    folded, pairs = fold_batchnorm_pairs(bert)
    assert pairs == [] and folded is not bert


def test_fold_keeps_dtype() -> None:
    model = randomise_bn(tiny()).to(torch.bfloat16)
    folded = fold_batchnorm(model)
    assert folded.get_submodule("conv1").weight.dtype == torch.bfloat16
    assert folded.get_submodule("conv1").bias.dtype == torch.bfloat16


# ---- config ---------------------------------------------------------------------------------


def test_mode_defaults_and_legacy_compile() -> None:
    assert TorchBackendConfig().mode == "eager" and not TorchBackendConfig().compile
    legacy = TorchBackendConfig(compile=True)
    assert legacy.mode == "compile" and legacy.compile
    assert legacy == TorchBackendConfig(mode="compile")
    assert TorchBackendConfig(mode="max-autotune").compile
    assert TorchBackendConfig(mode="max-autotune", compile=True).mode == "max-autotune"
    assert not TorchBackendConfig(device="cuda", mode="cudagraph").compile


def test_graph_batches() -> None:
    assert default_graph_batches(1) == (1,)
    assert default_graph_batches(8) == (1, 2, 4, 8)
    assert default_graph_batches(6) == (1, 2, 4, 6)
    cfg = TorchBackendConfig(device="cuda", mode="cudagraph", max_batch=64)
    assert cfg.graph_batches == (1, 2, 4, 8, 16, 32, 64)
    sizes: object = [8, 2, 2]  # a list (from YAML) is accepted and normalised
    cfg = TorchBackendConfig(
        device="cuda",
        mode="cudagraph",
        max_batch=8,
        cudagraph_batches=sizes,  # type: ignore[arg-type]
    )
    assert cfg.cudagraph_batches == (2, 8) and cfg.graph_batches == (2, 8)


def test_compile_cache_dir_accepts_paths(tmp_path: Path) -> None:
    cfg = TorchBackendConfig(mode="compile", compile_cache_dir=tmp_path)  # type: ignore[arg-type]
    assert cfg.compile_cache_dir == str(tmp_path)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": "fast"},
        {"mode": "reduce-overhead"},
        {"device": "cuda", "mode": "cudagraph", "compile": True},
        {"cudagraph_batches": (1, 2)},  # mode eager
        {"device": "cuda", "mode": "cudagraph", "max_batch": 4, "cudagraph_batches": (8,)},
        {"device": "cuda", "mode": "cudagraph", "cudagraph_batches": ()},
        {"device": "cuda", "mode": "cudagraph", "cudagraph_batches": (0,)},
        {"device": "cuda", "mode": "cudagraph", "cudagraph_batches": "1,2"},
        {"fold_bn": "yes"},
        {"channels_last": 1},
        {"compile_cache_dir": ""},
        {"compile_cache_dir": 3},
        {"dtype": "tf16"},
    ],
)
def test_config_rejects(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as info:
        TorchBackendConfig(**kwargs)  # type: ignore[arg-type]
    assert info.value.fix and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "fix"),
    [
        ({"dtype": "tf32"}, "--device cuda for tf32"),
        ({"mode": "cudagraph"}, "use --device cuda or mode eager/compile"),
    ],
)
def test_cuda_only_settings_on_cpu(kwargs: dict[str, object], fix: str) -> None:
    cfg = TorchBackendConfig(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(UnsupportedError) as info:
        cfg.check_static()
    assert info.value.fix == fix or fix in (info.value.fix or "")
    with pytest.raises(UnsupportedError, match="needs a CUDA GPU"):
        TorchBackend(tiny(), cfg, random_weights=True)
    # the same settings on CUDA pass the torch-free checks
    TorchBackendConfig(device="cuda", **kwargs).check_static()  # type: ignore[arg-type]


def test_config_module_does_not_import_torch() -> None:
    code = (
        "import sys, inferlab.backends.torch.config as c; "
        "c.TorchBackendConfig(mode='compile', dtype='tf32', device='cuda').check_static(); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- backend on CPU -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    return images(32, seed=2).numpy()


@pytest.fixture(scope="module")
def reference(batch: np.ndarray) -> np.ndarray:
    cfg = TorchBackendConfig(max_batch=32)
    return TorchBackend(calibrated(), cfg, random_weights=True).predict(batch)


@pytest.mark.parametrize("fold_bn", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_fp32_variants_agree(
    batch: np.ndarray, reference: np.ndarray, fold_bn: bool, channels_last: bool
) -> None:
    cfg = TorchBackendConfig(max_batch=16, fold_bn=fold_bn, channels_last=channels_last)
    backend = TorchBackend(calibrated(), cfg, random_weights=True)
    agree = compare_class_logits(reference, backend.predict(batch))
    assert not agree.degenerate, agree.line()
    assert agree.max_rel_error < 1e-4 and agree.top1_agreement == 1.0, agree.line()
    facts = backend.describe()
    assert facts["mode"] == "eager" and facts["fold_bn"] is fold_bn
    assert facts["folded_bn_pairs"] == (TINY_PAIRS if fold_bn else 0)
    assert facts["channels_last"] is channels_last and facts["cudagraph_batches"] is None


@pytest.mark.parametrize("fold_bn", [False, True])
def test_bf16_variants_agree(batch: np.ndarray, reference: np.ndarray, fold_bn: bool) -> None:
    cfg = TorchBackendConfig(dtype="bf16", max_batch=32, fold_bn=fold_bn, channels_last=True)
    agree = compare_class_logits(
        reference, TorchBackend(calibrated(), cfg, random_weights=True).predict(batch)
    )
    # measured on 64 images: cosine min >= 0.997, top-5 overlap >= 0.95
    assert not agree.degenerate and agree.cosine_min >= 0.99, agree.line()
    assert agree.topk_overlap >= 0.85, agree.line()


def test_fold_bn_leaves_the_callers_model_alone(batch: np.ndarray) -> None:
    model = calibrated()
    TorchBackend(model, TorchBackendConfig(fold_bn=True), random_weights=True)
    assert isinstance(model.get_submodule("bn1"), nn.BatchNorm2d)


def test_fold_bn_on_a_model_without_batchnorm() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5))
    backend = TorchBackend(model, TorchBackendConfig(fold_bn=True), random_weights=True)
    assert backend.describe()["folded_bn_pairs"] == 0 and backend.model is model


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_predict_tensor_equals_predict(batch: np.ndarray, dtype: str) -> None:
    cfg = TorchBackendConfig(dtype=dtype, max_batch=8, channels_last=True)
    backend = TorchBackend(calibrated(), cfg, random_weights=True)
    x = torch.from_numpy(batch[:20])  # 20 > max_batch: chunked
    out = backend.predict_tensor(x)
    assert out.dtype == torch.float32 and out.device.type == "cpu" and out.shape == (20, 100)
    np.testing.assert_array_equal(out.numpy(), backend.predict(batch[:20]))
    # any float dtype goes in; it is cast to the compute dtype first
    np.testing.assert_array_equal(backend.predict_tensor(x.double()).numpy(), out.numpy())


def test_predict_tensor_rejects_another_device_and_empty_batches() -> None:
    backend = TorchBackend(tiny(), TorchBackendConfig(max_batch=4), random_weights=True)
    with pytest.raises(DataError, match="on meta") as info:
        backend.predict_tensor(torch.empty(2, 3, 32, 32, device="meta"))
    assert "predict()" in (info.value.fix or "")
    with pytest.raises(DataError, match="empty"):
        backend.predict_tensor(torch.empty(0, 3, 32, 32))
    backend.close()
    with pytest.raises(RuntimeError, match="after close"):
        backend.predict_tensor(torch.zeros(1, 3, 32, 32))


def test_compile_modes_construct_lazily(tmp_path: Path) -> None:
    """Construction does not compile; the first forward would."""
    for cfg in (
        TorchBackendConfig(compile=True),
        TorchBackendConfig(mode="max-autotune", compile_cache_dir=None),
    ):
        facts = TorchBackend(tiny(), cfg, random_weights=True).describe()
        assert facts["compile"] and facts["mode"] == cfg.mode
        assert facts["compile_cache_dir"] is None
    eager = TorchBackendConfig(compile_cache_dir=str(tmp_path / "unused"))
    assert TorchBackend(tiny(), eager, random_weights=True).describe()["compile_cache_dir"] is None
    assert not (tmp_path / "unused").exists()


# ---- CudaGraphs' bookkeeping, with an eager stand-in for the CUDA capture ---------------------


def eager_capture(model: nn.Module, static_in: torch.Tensor) -> tuple[object, torch.Tensor]:
    """Like a CUDA graph: replay recomputes from the static input into the static output."""
    static_out = model(static_in)

    def replay() -> None:
        static_out.copy_(model(static_in))

    return replay, static_out


def graphs_for(model: nn.Module, sizes: tuple[int, ...], channels_last: bool) -> CudaGraphs:
    return CudaGraphs(
        model,
        sizes,
        torch.device("cpu"),
        torch.float32,
        channels_last=channels_last,
        capture=eager_capture,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("channels_last", [False, True])
def test_graphs_pick_buckets_pad_and_chunk(channels_last: bool) -> None:
    model = calibrated()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    graphs = graphs_for(model, (8, 2), channels_last)
    assert graphs.sizes == (2, 8)
    x = images(21, seed=2)
    with torch.inference_mode():
        want = model(x)
        out = graphs.run(x)  # chunks 8 + 8 + 5, the last padded to 8
        assert graphs.captured() == [8]
        torch.testing.assert_close(out, want, rtol=1e-4, atol=1e-4)
        one = graphs.run(x[:1].double())  # bucket 2, cast from float64
        assert graphs.captured() == [2, 8] and one.dtype == torch.float32
        torch.testing.assert_close(one, want[:1], rtol=1e-4, atol=1e-4)
        _, static_in, _ = graphs.graphs[(2, (3, 32, 32), torch.float32)]
        assert not static_in[1:].any()  # the padding row is zero
        assert static_in.is_contiguous(
            memory_format=torch.channels_last if channels_last else torch.contiguous_format
        )
        kept = one.clone()
        graphs.run(x[5:6])  # same graph, other image: the earlier result is a copy
        assert torch.equal(one, kept)
        graphs.capture_all(images(1, seed=3, size=64))  # another sample shape: its own graphs
        assert len(graphs.graphs) == 4 and graphs.captured() == [2, 8]


def test_graphs_need_a_tensor_output() -> None:
    graphs = graphs_for(nn.Sequential(nn.Flatten()), (2,), False)
    graphs.model = lambda t: (t, t)  # type: ignore[assignment]
    with pytest.raises(ModelError, match="tuple"), torch.inference_mode():
        graphs.run(torch.zeros(1, 3))


# ---- torch.compile on CPU (inductor + gcc: ~25 s cold) ----------------------------------------

_CHILD = """
import json, sys
sys.path.insert(0, {tests!r})
import test_torch_modes as t
from torch._dynamo.utils import counters
t.compiled_backend({cache!r}).predict(t.images(4, seed=2).numpy())
print(json.dumps({{k: dict(v) for k, v in counters.items()}}))
"""


def compiled_backend(cache_dir: str) -> TorchBackend:
    cfg = TorchBackendConfig(mode="compile", max_batch=4, compile_cache_dir=cache_dir)
    return TorchBackend(calibrated(), cfg, random_weights=True)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TorchBackend]]:
    cache = str(tmp_path_factory.mktemp("inductor"))
    with pytest.MonkeyPatch.context() as mp:  # the backend sets TORCHINDUCTOR_CACHE_DIR
        mp.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
        backend = compiled_backend(cache)
        backend.predict(images(4, seed=2).numpy())  # compiles
        yield cache, backend


@pytest.mark.slow
def test_compile_agrees_with_eager(compiled: tuple[str, TorchBackend]) -> None:
    cache, backend = compiled
    x = images(4, seed=2).numpy()
    eager = TorchBackend(calibrated(), TorchBackendConfig(max_batch=4), random_weights=True)
    ref, out = eager.predict(x), backend.predict(x)
    agree = compare_class_logits(ref, out, k=5)
    assert agree.max_rel_error < 1e-3 and agree.top1_agreement == 1.0, agree.line()
    assert agree.topk_overlap == 1.0, agree.line()
    facts = backend.describe()
    assert facts["mode"] == "compile" and facts["compile"] and facts["compile_cache_dir"] == cache
    assert backend.compile_cache is not None
    assert backend.compile_cache["TORCHINDUCTOR_CACHE_DIR"] == cache
    # a second batch size goes through the same dynamic-shape graph
    assert backend.predict(x[:3]).shape == (3, 100)
    # the caches landed in the directory
    assert any(p.is_file() for p in Path(cache).rglob("*"))


@pytest.mark.slow
def test_next_process_hits_the_compile_cache(compiled: tuple[str, TorchBackend]) -> None:
    cache, _ = compiled
    code = _CHILD.format(tests=str(Path(__file__).parent), cache=cache)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    counters = json.loads(done.stdout.strip().splitlines()[-1])
    hits = counters.get("inductor", {}).get("fxgraph_cache_hit", 0) + counters.get(
        "aot_autograd", {}
    ).get("autograd_cache_hit", 0)
    assert hits >= 1, counters
