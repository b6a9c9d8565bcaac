"""The vLLM backend (``--backend vllm``).

Without vllm (this machine): the section's validation, the translation of a benchmark's
decoding into vLLM's parameters, the refusals (vllm missing, no checkpoint, beam search not
accepted), the CLI's exit code, and the backend's own loop (submit -> add_request/step ->
events, predict, stop) against a stand-in for the part of vLLM's API it calls
(``LLM(...).llm_engine.add_request/step/has_unfinished_requests/abort_request``,
``SamplingParams``, ``TokensPrompt``, ``RequestOutputKind``, ``LLM.beam_search``), driven by
inferlab's real GenerationLoop and Dispatcher (completions go to recorders: no LoadGen here).

With vllm and CUDA (tests marked ``gpu``): vLLM's greedy tokens against the torch engine's on
a tiny saved checkpoint, and the streamed path against the batch path.
"""

from __future__ import annotations

import enum
import importlib.util
import json
import os
import sys
import threading
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from inferlab.backends.base import BuildContext, StaticContext
from inferlab.backends.registry import section_class
from inferlab.backends.vllm import backend as vb
from inferlab.backends.vllm.config import (
    MANAGED_ENGINE_ARGS,
    VllmEngineConfig,
    beam_search_differences,
    beam_search_kwargs,
    check_version,
    cuda_index,
    max_positions,
    resolve_dtype,
    sampling_kwargs,
)
from inferlab.backends.vllm.section import VllmSection
from inferlab.benchmarks.llama3_1_8b.spec import EOS_TOKEN_IDS, PYTORCH, SPEC, TINY
from inferlab.benchmarks.llama3_1_8b.task import TASK
from inferlab.config import RunConfig, build_config
from inferlab.core.errors import ConfigError, ModelError, UnsupportedError
from inferlab.core.task import GenerationSettings

HAVE_VLLM = importlib.util.find_spec("vllm") is not None
LLAMA = TASK.generation_settings(PYTORCH)
# GPT-J's MLPerf decoding (the reference's generate: num_beams=4, early_stopping=True,
# min_new_tokens=30, max_new_tokens=128; GPT-2's <|endoftext|> is its EOS)
GPTJ = GenerationSettings(
    max_new_tokens=128,
    min_new_tokens=30,
    num_beams=4,
    early_stopping=True,
    eos_token_ids=(50256,),
    max_seq_len=2048,
)


# ---- the section -----------------------------------------------------------------------------


def test_the_table_line_resolves_and_defaults_are_sensible() -> None:
    cls = section_class("vllm")
    assert cls is VllmSection
    s = VllmSection()
    assert (s.tensor_parallel_size, s.gpu_memory_utilization, s.dtype) == (1, 0.9, "run")
    assert s.max_num_seqs is None and s.max_model_len is None and s.seed is None
    assert not s.enforce_eager and s.stream_first_token and not s.approximate_beam_search
    assert not VllmSection.multi_device and VllmSection.loads_model
    assert VllmSection.batch_rule.gpu_defaults
    assert ("vLLM", ("vllm",)) in VllmSection.frameworks
    cfg = RunConfig(backend="vllm")
    assert RunConfig.model_validate(cfg.model_dump(mode="json")) == cfg


def test_settings_reach_the_section_from_flags_and_set() -> None:
    cfg = build_config(
        flags={"backend": "vllm", "backend_options": {"tensor_parallel_size": 2}},
        sets=[
            "backend_options.gpu_memory_utilization=0.5",
            "backend_options.max_num_seqs=64",
            "backend_options.enforce_eager=true",
            "backend_options.dtype=bfloat16",
            "backend_options.quantization=fp8",
        ],
        environ={},
    )
    opts = cfg.backend_options
    assert isinstance(opts, VllmSection)
    assert (opts.tensor_parallel_size, opts.gpu_memory_utilization, opts.max_num_seqs) == (
        2,
        0.5,
        64,
    )
    assert opts.enforce_eager and opts.dtype == "bfloat16" and opts.quantization == "fp8"


@pytest.mark.parametrize(
    ("sets", "needle"),
    [
        (["backend_options.tensor_parallel_size=0"], "tensor_parallel_size"),
        (["backend_options.gpu_memory_utilization=1.5"], "gpu_memory_utilization"),
        (["backend_options.gpu_memory_utilization=0"], "gpu_memory_utilization"),
        (["backend_options.max_num_seqs=0"], "max_num_seqs"),
        (["backend_options.max_model_len=1"], "max_model_len"),
        (["backend_options.dtype=fp8"], "dtype"),
        (["backend_options.kv_cache_dtype=int4"], "kv_cache_dtype"),
        (["backend_options.torch_mode=eager"], "torch_mode"),
        (["fold_bn=true"], "fold_bn"),
    ],
)
def test_bad_settings_are_one_line_errors(sets: list[str], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        build_config(flags={"backend": "vllm"}, sets=sets, environ={})
    assert needle in str(err.value) and "\n" not in str(err.value)


def _with_engine_args(args: dict[str, Any]) -> RunConfig:
    flags = {"backend": "vllm", "backend_options": {"engine_args": args}}
    return build_config(flags=flags, environ={})


def test_engine_args_may_not_set_what_the_section_sets() -> None:
    with pytest.raises(ConfigError, match=r"engine_args sets dtype.*backend_options\.dtype"):
        _with_engine_args({"dtype": "float16"})
    with pytest.raises(ConfigError, match="not keyword names"):
        _with_engine_args({"a-b": 1})
    ok = _with_engine_args({"max_seq_len_to_capture": 4096})
    assert ok.backend_options.engine_args == {"max_seq_len_to_capture": 4096}


def test_dtype_follows_the_run_unless_the_section_names_one() -> None:
    assert resolve_dtype("run", "bf16") == "bfloat16"
    assert resolve_dtype("run", "fp16") == "float16"
    assert resolve_dtype("run", "fp32") == "float32"
    for run_dtype in ("int8", "fp8", "tf32"):
        with pytest.raises(UnsupportedError, match="not a vLLM dtype.*quantization=fp8"):
            resolve_dtype("run", run_dtype)
    assert resolve_dtype("auto", "fp32") == "auto"  # fp32 is --dtype's default: no conflict
    assert resolve_dtype("bfloat16", "bf16") == "bfloat16"
    with pytest.raises(ConfigError, match="contradicts --dtype fp16"):
        resolve_dtype("bfloat16", "fp16")


def test_devices() -> None:
    assert cuda_index("cuda") is None and cuda_index("cuda:3") == 3
    for device in ("cpu", "cpu:0", "cuda:0,1"):
        with pytest.raises(UnsupportedError, match="--device cuda"):
            cuda_index(device)
    with pytest.raises(ConfigError, match="names one GPU and tensor_parallel_size is 2"):
        VllmEngineConfig(model="/m", device="cuda:1", tensor_parallel_size=2)


def test_engine_kwargs_leave_unset_settings_to_vllm() -> None:
    cfg = VllmEngineConfig(model="/ckpt", dtype="bfloat16", max_num_seqs=64, seed=7)
    kwargs = cfg.engine_kwargs()
    assert kwargs == {
        "model": "/ckpt",
        "tokenizer": "/ckpt",
        "skip_tokenizer_init": False,
        "dtype": "bfloat16",
        "tensor_parallel_size": 1,
        "gpu_memory_utilization": 0.9,
        "kv_cache_dtype": "auto",
        "enforce_eager": False,
        "seed": 7,
        "max_num_seqs": 64,
    }
    extra = VllmEngineConfig(model="/ckpt", engine_args={"max_seq_len_to_capture": 8192})
    assert extra.engine_kwargs()["max_seq_len_to_capture"] == 8192
    with pytest.raises(ConfigError, match="engine_args sets max_model_len"):
        VllmEngineConfig(model="/ckpt", engine_args={"max_model_len": 8})
    everything = VllmEngineConfig(
        model="/ckpt",
        max_num_seqs=8,
        max_num_batched_tokens=8192,
        max_model_len=4096,
        quantization="fp8",
        enable_prefix_caching=False,
        enable_chunked_prefill=True,
    )
    # every keyword the section sets is a vllm.EngineArgs field the section owns
    assert set(everything.engine_kwargs()) == MANAGED_ENGINE_ARGS
    with pytest.raises(ConfigError, match="gpu_memory_utilization"):
        VllmEngineConfig(model="/ckpt", gpu_memory_utilization=0)


def _ctx(tmp_path: Path | None, **kw: Any) -> BuildContext:
    base: dict[str, Any] = dict(
        device="cuda",
        dtype="bf16",
        max_batch=256,
        threads=None,
        seed=3,
        task=TASK,
        variant=PYTORCH,
        model_path=tmp_path,
        data_dir=None,
        cache_dir=None,
        dataset=None,
    )
    base.update(kw)
    return BuildContext(**base)


def test_the_engine_config_takes_the_run_s_values_where_the_section_leaves_them(
    tmp_path: Path,
) -> None:
    ecfg = VllmSection().engine_config(
        _ctx(tmp_path), max_seq_len=4096, model_config={"max_position_embeddings": 131072}
    )
    assert (ecfg.max_num_seqs, ecfg.seed, ecfg.dtype, ecfg.max_model_len) == (
        256,
        3,
        "bfloat16",
        4096,
    )
    small = VllmSection().engine_config(
        _ctx(tmp_path), max_seq_len=4096, model_config={"n_positions": 2048}
    )
    assert small.max_model_len == 2048  # GPT-J's config key; at most the checkpoint's positions
    own = VllmSection(max_num_seqs=32, seed=11, max_model_len=3000, dtype="auto")
    ecfg = own.engine_config(_ctx(tmp_path, dtype="fp32"), max_seq_len=4096, model_config={})
    assert (ecfg.max_num_seqs, ecfg.seed, ecfg.max_model_len, ecfg.dtype) == (32, 11, 3000, "auto")
    assert max_positions({"max_position_embeddings": True}) is None


# ---- decoding: GenerationSettings -> vLLM --------------------------------------------------


def test_llama_greedy_translates_to_these_sampling_params() -> None:
    assert sampling_kwargs(LLAMA) == {
        "n": 1,
        "temperature": 0.0,
        "max_tokens": 128,
        "min_tokens": 1,
        "stop_token_ids": [128_001, 128_008, 128_009],
        "ignore_eos": True,  # vLLM's own EOS ids are not added: ours are the stop ids
        "detokenize": False,
        "output_kind": "DELTA",
    }
    assert list(EOS_TOKEN_IDS) == sampling_kwargs(LLAMA)["stop_token_ids"]
    assert sampling_kwargs(LLAMA, stream=False)["output_kind"] == "FINAL_ONLY"
    own_eos = GenerationSettings(max_new_tokens=5)  # None: the model's EOS, vLLM's rule
    kw = sampling_kwargs(own_eos)
    assert "stop_token_ids" not in kw and "ignore_eos" not in kw and kw["min_tokens"] == 0
    with pytest.raises(ValueError, match="beam_search_kwargs"):
        sampling_kwargs(GPTJ)


def test_gptj_beam_search_translation_and_what_it_cannot_keep() -> None:
    assert beam_search_kwargs(GPTJ) == {
        "beam_width": 4,
        "max_tokens": 128,
        "ignore_eos": False,
        "temperature": 0.0,
        "length_penalty": 1.0,
    }
    gaps = beam_search_differences(GPTJ, tokenizer_eos=50256)
    text = " | ".join(gaps)
    for needle in ("early_stopping=True", "min_new_tokens=30", "length normalisation", "stream"):
        assert needle in text, needle
    assert "EOS:" not in text  # GPT-J's one EOS is the tokenizer's
    several = GenerationSettings(max_new_tokens=8, num_beams=2, eos_token_ids=(1, 2))
    assert any(g.startswith("EOS:") for g in beam_search_differences(several))
    assert beam_search_differences(LLAMA) == []
    with pytest.raises(ValueError, match="sampling_kwargs"):
        beam_search_kwargs(LLAMA)


def test_version_floor() -> None:
    check_version("0.8.0")
    check_version("0.11.2.dev12+g1234")
    check_version("not-a-version")
    with pytest.raises(UnsupportedError, match="older than 0.8"):
        check_version("0.6.3.post1")


# ---- refusals --------------------------------------------------------------------------------


def test_only_the_checkpoint_variant_allows_vllm() -> None:
    assert PYTORCH.supports("vllm") and not TINY.supports("vllm")
    assert SPEC.variant(None, "vllm") is PYTORCH


@pytest.mark.skipif(HAVE_VLLM, reason="vllm is installed here")
def test_check_static_names_the_install_when_vllm_is_missing() -> None:
    ctx = StaticContext("cuda", ("cuda",), False, "bf16", None)
    with pytest.raises(UnsupportedError) as err:
        VllmSection().check_static(ctx)
    text = str(err.value)
    assert "pip install vllm" in text and "CUDA" in text and "--backend torch" in text


def test_a_missing_vllm_import_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # `import vllm` fails as where it is absent
    with pytest.raises(UnsupportedError, match="pip install vllm.*CUDA"):
        vb.import_vllm()


def test_a_run_without_a_checkpoint_is_refused_before_vllm_is_imported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ModelError, match="pass --model-path") as err:
        VllmSection().build(_ctx(None))
    assert "synthetic" in str(err.value)
    with pytest.raises(ModelError, match="no config.json"):
        VllmSection().build(_ctx(tmp_path))


@pytest.mark.skipif(HAVE_VLLM, reason="vllm is installed here")
def test_cli_run_exits_2_with_the_fix(tmp_path: Path) -> None:
    from inferlab.cli.app import app

    out = tmp_path / "runs"
    args = ["run", "llama3.1-8b", "--backend", "vllm", "--quick", "--out", str(out)]
    res = CliRunner().invoke(app, args, env={"COLUMNS": "400", "NO_COLOR": "1"})
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert "the vllm backend needs the vllm package" in text and "pip install vllm" in text
    assert not out.exists()  # refused before a run directory exists


def test_cli_help_lists_the_vllm_options() -> None:
    from inferlab.cli.app import app

    res = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "400", "NO_COLOR": "1"})
    assert res.exit_code == 0
    for flag in (
        "--tensor-parallel-size",
        "--gpu-memory-utilization",
        "--max-num-seqs",
        "--enforce-eager",
    ):
        assert flag in res.output, flag


# ---- the backend's loop, against a stand-in for vLLM's engine API ------------------------------

VOCAB = 97
TOKENIZER_EOS = 5


class OutputKind(enum.Enum):  # vllm.sampling_params.RequestOutputKind
    CUMULATIVE = 0
    DELTA = 1
    FINAL_ONLY = 2


@dataclass
class SamplingParams:  # the fields of vllm.SamplingParams the backend sets
    n: int = 1
    temperature: float = 1.0
    max_tokens: int | None = 16
    min_tokens: int = 0
    stop_token_ids: list[int] | None = None
    ignore_eos: bool = False
    detokenize: bool = True
    output_kind: OutputKind = OutputKind.CUMULATIVE


@dataclass
class BeamSearchParams:  # vllm.sampling_params.BeamSearchParams
    beam_width: int
    max_tokens: int
    ignore_eos: bool = False
    temperature: float = 0.0
    length_penalty: float = 1.0


def next_token(seq: list[int], banned: set[int]) -> int:
    """The stand-in model's greedy choice: a function of the sequence so far."""
    token = (sum(seq) * 7 + 3 * len(seq)) % VOCAB
    while token in banned:
        token = (token + 1) % VOCAB
    return token


def reference(prompt: list[int], s: GenerationSettings) -> list[int]:
    """What greedy decoding with ``s`` gives on the stand-in model (EOS kept in the output)."""
    eos = set(s.eos_token_ids) if s.eos_token_ids is not None else {TOKENIZER_EOS}
    out: list[int] = []
    while len(out) < s.max_new_tokens:
        # below min_tokens vLLM masks every stop id, its own EOS included
        banned = (eos | {TOKENIZER_EOS}) if len(out) < s.min_new_tokens else set()
        token = next_token(prompt + out, banned)
        out.append(token)
        if token in eos:
            break
    return out


@dataclass
class _Req:
    rid: str
    prompt: list[int]
    params: SamplingParams
    out: list[int] = field(default_factory=list)
    sent: int = 0


@dataclass
class _Completion:
    token_ids: list[int]
    finish_reason: str | None


@dataclass
class _Output:
    request_id: str
    outputs: list[_Completion]
    finished: bool


class Engine:
    """vLLM's LLMEngine as the backend uses it: add_request / step / has_unfinished_requests /
    abort_request; each step decodes one token for up to max_num_seqs requests."""

    def __init__(self, max_num_seqs: int) -> None:
        self.max_num_seqs = max_num_seqs
        self.waiting: list[_Req] = []
        self.running: list[_Req] = []
        self.steps = 0
        self.thread_ids: set[int] = set()
        self.aborted: list[str] = []

    def add_request(self, request_id: str, prompt: dict[str, Any], params: Any) -> None:
        self.thread_ids.add(threading.get_ident())
        assert isinstance(request_id, str) and isinstance(params, SamplingParams)
        ids = prompt["prompt_token_ids"]
        if max(ids) >= VOCAB:
            raise ValueError(f"Token id {max(ids)} is out of vocabulary")
        self.waiting.append(_Req(request_id, list(ids), params))

    def has_unfinished_requests(self) -> bool:
        return bool(self.waiting or self.running)

    def abort_request(self, request_ids: list[str]) -> None:
        self.aborted += request_ids
        self.waiting = [r for r in self.waiting if r.rid not in request_ids]
        self.running = [r for r in self.running if r.rid not in request_ids]

    def step(self) -> list[_Output]:
        self.thread_ids.add(threading.get_ident())
        self.steps += 1
        while self.waiting and len(self.running) < self.max_num_seqs:
            self.running.append(self.waiting.pop(0))
        outputs = []
        for r in list(self.running):
            p = r.params
            stops = set(p.stop_token_ids or ()) | ({TOKENIZER_EOS} if not p.ignore_eos else set())
            masked = (stops | {TOKENIZER_EOS}) if len(r.out) < p.min_tokens else set()
            token = next_token(r.prompt + r.out, masked)
            r.out.append(token)
            done = (len(r.out) >= p.min_tokens and token in stops) or len(r.out) >= (
                p.max_tokens or 16
            )
            reason = ("stop" if token in stops else "length") if done else None
            if done:
                self.running.remove(r)
            if p.output_kind == OutputKind.FINAL_ONLY and not done:
                continue
            if p.output_kind == OutputKind.DELTA:
                ids, r.sent = r.out[r.sent :], len(r.out)
            else:
                ids = list(r.out)
            outputs.append(_Output(r.rid, [_Completion(ids, reason)], done))
        return outputs


@dataclass
class _Seq:
    tokens: list[int]
    finish_reason: str | None = None


class LLM:
    """vllm.LLM as the backend uses it: the constructor's keywords, llm_engine, get_tokenizer,
    beam_search (here: the greedy answer as the best sequence, prompt included)."""

    instances: list[LLM] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.environ = dict(os.environ)
        self.llm_engine = Engine(kwargs.get("max_num_seqs") or 256)
        self.beam_batches: list[int] = []
        self.shut_down = False
        LLM.instances.append(self)

    def get_tokenizer(self) -> Any:
        return types.SimpleNamespace(eos_token_id=TOKENIZER_EOS)

    def beam_search(self, prompts: list[dict[str, Any]], params: BeamSearchParams) -> list[Any]:
        assert not self.llm_engine.has_unfinished_requests()  # never mixed with our requests
        self.beam_batches.append(len(prompts))
        s = GenerationSettings(max_new_tokens=params.max_tokens, eos_token_ids=(TOKENIZER_EOS,))
        return [
            types.SimpleNamespace(
                sequences=[_Seq(p["prompt_token_ids"] + reference(p["prompt_token_ids"], s))]
            )
            for p in prompts
        ]


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> type[LLM]:
    root = types.ModuleType("vllm")
    root.__version__ = "0.10.1"  # type: ignore[attr-defined]
    root.LLM = LLM  # type: ignore[attr-defined]
    root.SamplingParams = SamplingParams  # type: ignore[attr-defined]
    inputs = types.ModuleType("vllm.inputs")
    inputs.TokensPrompt = lambda **kw: dict(kw)  # type: ignore[attr-defined]
    sp = types.ModuleType("vllm.sampling_params")
    sp.RequestOutputKind = OutputKind  # type: ignore[attr-defined]
    sp.BeamSearchParams = BeamSearchParams  # type: ignore[attr-defined]
    for name, mod in (("vllm", root), ("vllm.inputs", inputs), ("vllm.sampling_params", sp)):
        monkeypatch.setitem(sys.modules, name, mod)
    LLM.instances = []
    return LLM


def _backend(settings: GenerationSettings, **kw: Any) -> vb.VllmGenerationBackend:
    return vb.VllmGenerationBackend(VllmEngineConfig(model="/ckpt", **kw), settings)


def _rows(prompts: list[list[int]]) -> np.ndarray:
    width = max(len(p) for p in prompts)
    rows = np.zeros((len(prompts), 1 + width), dtype=np.int32)
    for i, p in enumerate(prompts):
        rows[i, 0] = len(p)
        rows[i, 1 : 1 + len(p)] = p
    return rows


PROMPTS = [[1 + (i * 13 + j * 7) % 90 for j in range(3 + i % 5)] for i in range(12)]
SHORT = GenerationSettings(max_new_tokens=12, min_new_tokens=1, eos_token_ids=(11, 29))


def test_predict_returns_count_and_tokens_as_the_torch_backend(fake_vllm: type[LLM]) -> None:
    be = _backend(SHORT, max_num_seqs=4)
    out = be.predict(_rows(PROMPTS))
    assert out.shape == (len(PROMPTS), 1 + SHORT.max_new_tokens) and out.dtype == np.int32
    stopped = 0
    for row, prompt in zip(out, PROMPTS, strict=True):
        expected = reference(prompt, SHORT)
        assert list(row[1 : 1 + row[0]]) == expected
        stopped += expected[-1] in (11, 29)
    assert stopped  # the EOS path was taken (and the EOS kept)
    assert fake_vllm.instances[0].llm_engine.steps >= SHORT.max_new_tokens
    be.close()
    assert be._llm is None


def test_min_tokens_and_own_eos_reach_vllm(fake_vllm: type[LLM]) -> None:
    prompt = PROMPTS[0]
    free = reference(prompt, GenerationSettings(max_new_tokens=12, eos_token_ids=None))
    eos = free[1]  # a token greedy decoding meets second
    held = GenerationSettings(max_new_tokens=12, min_new_tokens=4, eos_token_ids=(eos,))
    got = _backend(held).predict(_rows([prompt]))
    tokens = list(got[0, 1 : 1 + got[0, 0]])
    assert tokens == reference(prompt, held) and len(tokens) >= 4 and eos not in tokens[:4]


def test_environment_is_offline_while_the_engine_starts(
    fake_vllm: type[LLM], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    _backend(SHORT, device="cuda:1")
    env = fake_vllm.instances[-1].environ
    assert env["HF_HUB_OFFLINE"] == "1" and env["VLLM_NO_USAGE_STATS"] == "1"
    assert env["CUDA_VISIBLE_DEVICES"] == "5"
    assert "HF_HUB_OFFLINE" not in os.environ and os.environ["CUDA_VISIBLE_DEVICES"] == "4,5"
    with pytest.raises(ConfigError, match="makes 2 GPU"):
        _backend(SHORT, device="cuda:2")
    kwargs = fake_vllm.instances[-1].kwargs
    assert kwargs["model"] == kwargs["tokenizer"] == "/ckpt"


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.first: dict[int, bytes] = {}
        self.done: dict[int, tuple[bytes, int]] = {}
        self.order: list[tuple[str, int]] = []

    def complete(self, ids: Any, payloads: Any, n_tokens: Any = None) -> None:
        with self.lock:
            for i, (qid, data) in enumerate(zip(ids, payloads, strict=True)):
                assert int(qid) not in self.done
                self.done[int(qid)] = (bytes(data), int(n_tokens[i]))
                self.order.append(("done", int(qid)))

    def first_token(self, qid: int, data: bytes) -> None:
        with self.lock:
            self.first[int(qid)] = bytes(data)
            self.order.append(("first", int(qid)))


def _drive(be: vb.VllmGenerationBackend, stream: bool) -> Recorder:
    from inferlab.loadgen.dispatch import Dispatcher
    from inferlab.loadgen.generation_loop import TAKE_ALL, UNBOUNDED_INFLIGHT, GenerationLoop

    rec = Recorder()
    d = Dispatcher(
        TAKE_ALL,
        rec.complete,
        first_token_fn=rec.first_token,
        max_inflight_batches=UNBOUNDED_INFLIGHT,
    )
    loop = GenerationLoop(
        d, be, lambda i: np.asarray(PROMPTS[i], np.int32), stream_first=stream, dtype="int32"
    )
    loop.start()

    def issue(start: int) -> None:  # LoadGen's issue thread(s)
        for i in range(start, len(PROMPTS), 2):
            d.issue(np.asarray([1000 + i], np.uint64), np.asarray([i], np.int64))
            time.sleep(0.001)

    threads = [threading.Thread(target=issue, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.monotonic() + 30
    while len(rec.done) < len(PROMPTS) and time.monotonic() < deadline:
        time.sleep(0.01)
    loop.stop()
    assert loop.stats()[0]["samples"] == len(PROMPTS)
    return rec


@pytest.mark.parametrize("stream_first_token", [True, False])
def test_generation_loop_drives_it_and_streams_the_first_token(
    fake_vllm: type[LLM], stream_first_token: bool
) -> None:
    be = _backend(SHORT, max_num_seqs=3, stream_first_token=stream_first_token)
    rec = _drive(be, stream=True)
    assert sorted(rec.done) == [1000 + i for i in range(len(PROMPTS))]  # each id exactly once
    for i, prompt in enumerate(PROMPTS):
        data, n = rec.done[1000 + i]
        tokens = np.frombuffer(data, np.int32).tolist()
        assert tokens == reference(prompt, SHORT) and n == len(tokens)
        assert np.frombuffer(rec.first[1000 + i], np.int32).tolist() == tokens[:1]
        assert rec.order.index(("first", 1000 + i)) < rec.order.index(("done", 1000 + i))
    if stream_first_token:  # a first token arrives while other requests are still running
        firsts = [k for k, (what, _) in enumerate(rec.order) if what == "first"]
        dones = [k for k, (what, _) in enumerate(rec.order) if what == "done"]
        assert min(dones) > min(firsts) and max(firsts) > min(dones)
    engine = fake_vllm.instances[-1].llm_engine
    assert len(engine.thread_ids) == 1  # the engine is only touched by the backend's loop
    assert be.predict(_rows(PROMPTS[:2])).shape[0] == 2  # the batch path works after stop()
    be.close()


def test_loop_errors_reach_the_owner_and_stop(fake_vllm: type[LLM]) -> None:
    be = _backend(SHORT)
    errors: list[BaseException] = []
    be.start(lambda e: None, errors.append)
    be.submit(1, np.asarray([VOCAB + 5]))  # out of the vocabulary: add_request raises
    deadline = time.monotonic() + 10
    while not errors and time.monotonic() < deadline:
        time.sleep(0.01)
    assert errors and "out of vocabulary" in str(errors[0])
    with pytest.raises(ValueError, match="out of vocabulary"):
        be.stop()


def test_requests_vllm_would_cut_short_are_refused(fake_vllm: type[LLM]) -> None:
    be = _backend(SHORT, max_model_len=16)
    with pytest.raises(ValueError, match="exceeds max_model_len 16"):
        be.submit(1, np.arange(5, 10))  # 5 + 12 > 16
    with pytest.raises(ValueError, match="empty prompt"):
        be.submit(2, np.asarray([], np.int32))
    be.start(lambda e: None, lambda e: None)
    be.submit(3, np.asarray([1, 2]))
    with pytest.raises(ValueError, match="already in flight"):
        be.submit(3, np.asarray([1, 2]))
    be.stop()
    with pytest.raises(ConfigError, match="leaves no room"):
        _backend(SHORT, max_model_len=12)


def test_stop_aborts_what_is_left_in_the_engine(fake_vllm: type[LLM]) -> None:
    long = GenerationSettings(max_new_tokens=10**7, eos_token_ids=(-1,), max_seq_len=2 * 10**7)
    be = _backend(long)
    seen: list[Any] = []
    be.start(seen.append, lambda e: None)
    be.submit(7, np.asarray([1, 2, 3]))
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        time.sleep(0.005)
    be.stop()
    assert isinstance(seen[0], vb.FirstToken) and seen[0].request_id == 7
    assert fake_vllm.instances[-1].llm_engine.aborted == ["il-7"]


def test_beam_search_is_refused_unless_accepted(fake_vllm: type[LLM]) -> None:
    with pytest.raises(UnsupportedError, match="approximate_beam_search=true") as err:
        _backend(GPTJ)
    assert "min_new_tokens=30" in str(err.value)
    assert fake_vllm.instances == []  # refused before the engine is built
    with pytest.raises(UnsupportedError, match="needs the tokenizer"):
        _backend(GPTJ, approximate_beam_search=True, skip_tokenizer_init=True)


def test_accepted_beam_search_runs_batches_through_llm_beam_search(fake_vllm: type[LLM]) -> None:
    settings = GenerationSettings(max_new_tokens=6, num_beams=4, eos_token_ids=(TOKENIZER_EOS,))
    be = _backend(settings, approximate_beam_search=True, max_num_seqs=8)
    out = be.predict(_rows(PROMPTS[:5]))
    assert fake_vllm.instances[0].beam_batches == [2, 2, 1]  # 8 sequences / 4 beams per call
    for row, prompt in zip(out, PROMPTS, strict=False):
        assert list(row[1 : 1 + row[0]]) == reference(prompt, settings)  # prompt stripped
    facts = be.describe()
    assert facts["decoding"].startswith("beam search (4 beams")
    assert facts["beam_search_params"]["beam_width"] == 4 and facts["beam_search_differences"]


def test_describe_records_the_version_and_engine_settings(fake_vllm: type[LLM]) -> None:
    be = _backend(LLAMA, dtype="bfloat16", max_num_seqs=64, max_model_len=4096)
    facts = be.describe()
    json.dumps(facts)  # result.json takes it as it is
    assert facts["backend"] == "vllm" and facts["vllm_version"] == "0.10.1"
    assert (
        facts["engine_args"]["max_num_seqs"] == 64 and facts["engine_args"]["dtype"] == "bfloat16"
    )
    assert facts["sampling_params"] == sampling_kwargs(LLAMA)
    assert facts["decoding"] == "greedy" and facts["eos_token_ids"] == list(EOS_TOKEN_IDS)
    caps = be.capabilities
    assert caps.generates and caps.streaming and caps.max_batch == 64 and not caps.random_weights


# ---- on a GPU, with vllm ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random Llama (head size 64, as vLLM's attention kernels take; initializer range
    0.3 so that no near-ties exist for bf16 rounding to flip) saved as a HF checkpoint."""
    pytest.importorskip("vllm")
    from inferlab.generation.models import random_model, tiny_config

    path = tmp_path_factory.mktemp("tiny-llama")
    config = tiny_config(
        "llama",
        vocab_size=512,
        hidden_size=256,
        num_layers=2,
        num_heads=4,
        num_kv_heads=2,
        intermediate_size=512,
        max_positions=1024,
        eos_token_id=2,
        initializer_range=0.3,
    )
    random_model(config, seed=0).save_pretrained(path)
    return path


GPU_SETTINGS = GenerationSettings(
    max_new_tokens=24, min_new_tokens=1, eos_token_ids=(2,), max_seq_len=512
)
GPU_PROMPTS = [[3 + (i * 37 + j * 11) % 500 for j in range(4 + 3 * i)] for i in range(8)]


def _vllm_backend(path: Path, **kw: Any) -> vb.VllmGenerationBackend:
    cfg = VllmEngineConfig(
        model=str(path),
        dtype="bfloat16",
        max_num_seqs=8,
        max_model_len=512,
        gpu_memory_utilization=0.3,
        enforce_eager=True,
        skip_tokenizer_init=True,  # the checkpoint has no tokenizer; prompts are ids
        **kw,
    )
    return vb.VllmGenerationBackend(cfg, GPU_SETTINGS)


@pytest.mark.gpu
def test_vllm_greedy_tokens_equal_the_torch_engine_s(tiny_checkpoint: Path) -> None:
    pytest.importorskip("vllm")
    be = _vllm_backend(tiny_checkpoint)
    try:
        got = be.predict(_rows(GPU_PROMPTS))
    finally:
        be.close()
    import torch

    from inferlab.backends.torch.config import TorchBackendConfig
    from inferlab.backends.torch.generation import TorchGenerationBackend
    from inferlab.generation.models import load_model

    model = load_model(tiny_checkpoint, dtype=torch.bfloat16)
    ref_be = TorchGenerationBackend(
        model,
        TorchBackendConfig(device="cuda", dtype="bf16", max_batch=8),
        GPU_SETTINGS,
        random_weights=True,
    )
    want = ref_be.predict(_rows(GPU_PROMPTS))
    same = [bool(np.array_equal(a, b)) for a, b in zip(got, want, strict=True)]
    # bf16 in both, other kernels: a near-tie may flip one request; most must agree exactly
    assert sum(same) >= len(same) - 1, (got.tolist(), want.tolist())
    assert all(got[:, 1] == want[:, 1])  # every first token


@pytest.mark.gpu
def test_vllm_streamed_path_equals_its_batch_path(tiny_checkpoint: Path) -> None:
    pytest.importorskip("vllm")
    be = _vllm_backend(tiny_checkpoint)
    try:
        batch = be.predict(_rows(GPU_PROMPTS))
        events: list[Any] = []
        be.start(events.append, lambda e: None)
        for i, p in enumerate(GPU_PROMPTS):
            be.submit(i, np.asarray(p, np.int32))
        deadline = time.monotonic() + 120
        while sum(isinstance(e, vb.Completion) for e in events) < len(GPU_PROMPTS):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        be.stop()
        facts = be.describe()
    finally:
        be.close()
    done = {e.request_id: e.tokens for e in events if isinstance(e, vb.Completion)}
    first = {e.request_id: e.token for e in events if isinstance(e, vb.FirstToken)}
    for i in range(len(GPU_PROMPTS)):
        assert list(done[i]) == list(batch[i, 1 : 1 + batch[i, 0]])
        assert first[i] == done[i][0]
    assert facts["vllm_version"] and facts["dtype"] == "bfloat16"
