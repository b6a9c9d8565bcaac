"""The vLLM backend of a generative benchmark: the checkpoint in vLLM's engine, driven as a
:class:`~inferlab.core.backend.Generator` (as the torch generation backend is).

``predict`` generates a static batch synchronously (warm-up, calibration); ``start``/``submit``/
``stop`` run the engine for a LoadGen test: ``submit`` (any thread) queues a request, and one
loop thread of this backend hands queued requests to ``LLMEngine.add_request`` and calls
``LLMEngine.step`` while requests are in flight (vLLM's own continuous batching schedules
them). With ``stream_first_token`` the requests' outputs are DELTA outputs, so a request's
first token is reported in the step that produced it; its final event carries **all** tokens,
the first one and a final EOS included. Beam search goes through ``LLM.beam_search``, a batch
of requests at a time, when no greedy request is in the engine (that call drives the same
engine). Batches: (n, 1 + prompt) int32 rows ``[prompt length, ids..., 0...]`` in,
(n, 1 + max_new_tokens) rows ``[count, tokens..., 0...]`` out, as the torch backend's.

Every vllm import is inside a function: importing this module needs no vllm.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from inferlab.backends.vllm.config import (
    VllmEngineConfig,
    beam_search_differences,
    beam_search_kwargs,
    check_version,
    missing_vllm,
    sampling_kwargs,
)
from inferlab.core.backend import Backend, Capabilities
from inferlab.core.errors import ConfigError, DataError, UnsupportedError
from inferlab.core.task import GenerationSettings

log = logging.getLogger(__name__)

# The engine's processes (vLLM's engine core and workers start from this environment) load the
# local checkpoint only: no hub look-ups, no usage statistics sent.
OFFLINE_ENV: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
}
_ID_PREFIX = "il-"
_ID_RE = re.compile(r"^il-(\d+)")  # vLLM may append its own suffix to a request id


@dataclass(frozen=True)
class FirstToken:
    """A request's first generated token, ahead of the rest."""

    request_id: int
    token: int


@dataclass(frozen=True)
class Completion:
    """A finished request: every generated token, the first one and a final EOS included."""

    request_id: int
    tokens: tuple[int, ...]
    finish_reason: str


def import_vllm() -> Any:
    """The vllm module; UnsupportedError naming ``pip install vllm`` when it is missing or too
    old, or when it is installed but cannot be imported."""
    try:
        import vllm  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        if (exc.name or "").split(".")[0] == "vllm":
            raise missing_vllm() from exc
        raise UnsupportedError(
            f"vllm is installed but cannot be imported ({exc})",
            "install a vllm build that matches this machine's CUDA and torch "
            "(pip install --force-reinstall vllm)",
        ) from exc
    check_version(str(getattr(vllm, "__version__", "")))
    return vllm


@contextmanager
def engine_environment(config: VllmEngineConfig) -> Iterator[None]:
    """The environment vLLM starts its engine in (:data:`OFFLINE_ENV`; ``cuda:N``: that GPU
    alone in CUDA_VISIBLE_DEVICES), restored afterwards: the engine's processes and CUDA
    context take it at start-up. A library that read one of these variables earlier in this
    process keeps what it read (the checkpoint is a local directory either way)."""
    changes = dict(OFFLINE_ENV)
    index = config.device_index
    if index is not None:
        changes["CUDA_VISIBLE_DEVICES"] = _visible_gpu(index)
    before = {k: os.environ.get(k) for k in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _visible_gpu(index: int) -> str:
    """CUDA_VISIBLE_DEVICES for ``cuda:index`` (an index into the GPUs visible now)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    ids = [v.strip() for v in visible.split(",") if v.strip()] if visible else None
    if ids is not None and index >= len(ids):
        raise ConfigError(
            f"--device cuda:{index}: CUDA_VISIBLE_DEVICES={visible} makes {len(ids)} GPU(s) "
            "visible",
            f"use --device cuda:0 .. cuda:{len(ids) - 1}",
        )
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    if index != 0 and cuda is not None and cuda.is_initialized():
        raise UnsupportedError(
            f"--device cuda:{index}: CUDA is already initialised in this process, so vLLM "
            "cannot be given that GPU alone",
            f"use --device cuda with CUDA_VISIBLE_DEVICES={index}",
        )
    return ids[index] if ids is not None else str(index)


def _tokens_prompt(vllm: Any) -> Any:
    """vLLM's ``TokensPrompt`` (a TypedDict: ``{"prompt_token_ids": [...]}``)."""
    try:
        from vllm.inputs import TokensPrompt  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return getattr(vllm, "TokensPrompt", dict)
    return TokensPrompt


def _request_id(text: str) -> int:
    m = _ID_RE.match(str(text))
    if m is None:
        raise RuntimeError(f"vLLM returned request {text!r}, which this backend did not submit")
    return int(m.group(1))


class VllmGenerationBackend(Backend):
    """One vLLM engine (``vllm.LLM``) for a benchmark with ``settings``; see the module
    docstring."""

    def __init__(self, config: VllmEngineConfig, settings: GenerationSettings) -> None:
        self.config = config
        self.settings = settings
        self.beams = settings.num_beams > 1
        if self.beams and not config.approximate_beam_search:
            gaps = "; ".join(beam_search_differences(settings))
            raise UnsupportedError(
                f"this benchmark decodes with {settings.num_beams}-beam search, and vLLM's beam "
                f"search gives other tokens than transformers' generate: {gaps}",
                "use --backend torch (its engine follows generate), or accept vLLM's beam "
                "search with --set backend_options.approximate_beam_search=true",
            )
        if self.beams and config.skip_tokenizer_init:
            raise UnsupportedError(
                "vLLM's beam search needs the tokenizer (its EOS id), and skip_tokenizer_init "
                "is set",
                "drop backend_options.skip_tokenizer_init",
            )
        limit = config.max_model_len
        if limit is not None and limit <= settings.max_new_tokens:
            raise ConfigError(
                f"max_model_len {limit} leaves no room for a prompt before "
                f"{settings.max_new_tokens} new tokens",
                f"use backend_options.max_model_len > {settings.max_new_tokens}",
            )
        with engine_environment(config):
            vllm = import_vllm()
            self._params: Any = None
            self._beam_params: Any = None
            if self.beams:
                from vllm.sampling_params import (  # type: ignore[import-not-found, unused-ignore]
                    BeamSearchParams,
                )

                self._beam_params = BeamSearchParams(**beam_search_kwargs(settings))
            else:
                from vllm import SamplingParams  # type: ignore[import-not-found, unused-ignore]
                from vllm.sampling_params import (  # type: ignore[import-not-found, unused-ignore]
                    RequestOutputKind,
                )

                kwargs = sampling_kwargs(settings, stream=config.stream_first_token)
                kwargs["output_kind"] = RequestOutputKind[kwargs["output_kind"]]
                self._params = SamplingParams(**kwargs)
            self._prompt_cls: Any = _tokens_prompt(vllm)
            log.info("vLLM %s: building the engine (%s)", vllm.__version__, config.engine_kwargs())
            self._llm: Any = vllm.LLM(**config.engine_kwargs())
        self.vllm_version = str(vllm.__version__)
        try:
            self._engine: Any = self._llm.llm_engine
            self.max_model_len = int(self._model_config("max_model_len", limit or 0)) or limit
        except BaseException:
            _shutdown(self._llm)
            raise
        self._delta = config.stream_first_token
        seqs = config.max_num_seqs or 256
        self._beam_batch = max(1, seqs // max(1, settings.num_beams))
        # submission (any thread), guarded by _cond
        self._cond = threading.Condition()
        self._inbox: list[tuple[int, list[int]]] = []
        self._known: set[int] = set()
        self._stopping = False
        # the loop thread's own state (or predict's, when no loop runs)
        self._live: dict[int, list[int]] = {}
        self._first_sent: set[int] = set()
        self._beam_queue: deque[tuple[int, list[int]]] = deque()
        self._thread: threading.Thread | None = None
        self._on_event: Callable[[Any], None] = lambda event: None
        self._on_error: Callable[[BaseException], None] = lambda err: None
        self._error: BaseException | None = None
        self.capabilities = Capabilities(
            device=config.device,
            max_batch=seqs,
            preferred_batch=seqs,
            needs_inputs=True,
            is_async=True,
            streaming=True,
            random_weights=False,
            generates=True,
        )

    # ---- engine facts (their place differs between vLLM versions) ----------------------------
    def _model_config(self, name: str, default: Any) -> Any:
        for owner in (getattr(self._engine, "vllm_config", None), self._engine):
            value = getattr(getattr(owner, "model_config", None), name, None)
            if value is not None:
                return value
        return default

    def _cache_blocks(self) -> int | None:
        for owner in (getattr(self._engine, "vllm_config", None), self._engine):
            blocks = getattr(getattr(owner, "cache_config", None), "num_gpu_blocks", None)
            if isinstance(blocks, int):
                return blocks
        return None

    def _tokenizer_eos(self) -> int | None:
        try:
            eos = self._llm.get_tokenizer().eos_token_id
        except Exception:  # noqa: BLE001 - skip_tokenizer_init, or another vLLM's API
            return None
        return int(eos) if isinstance(eos, int) else None

    # ---- requests ------------------------------------------------------------------------
    def _validate(self, request_id: int, ids: list[int]) -> None:
        if not ids:
            raise ValueError(f"request {request_id}: empty prompt")
        if self.max_model_len and len(ids) + self.settings.max_new_tokens > self.max_model_len:
            raise ValueError(
                f"request {request_id}: prompt {len(ids)} + max_new_tokens "
                f"{self.settings.max_new_tokens} tokens exceeds max_model_len "
                f"{self.max_model_len} (vLLM would cut the output short); raise "
                "backend_options.max_model_len"
            )

    def _admit(self, items: list[tuple[int, list[int]]]) -> None:
        for rid, ids in items:
            if self.beams:
                self._beam_queue.append((rid, ids))
                continue
            self._live[rid] = []
            prompt = self._prompt_cls(prompt_token_ids=ids)
            self._engine.add_request(f"{_ID_PREFIX}{rid}", prompt, self._params)

    def _advance(self) -> list[Any]:
        """One engine step for the greedy requests in flight, else one beam-search batch."""
        if self._live:
            if not self._engine.has_unfinished_requests():
                raise RuntimeError(
                    f"vLLM has no unfinished request, and {len(self._live)} of this backend's "
                    "never finished"
                )
            return self._events(self._engine.step())
        if self._beam_queue:
            n = min(len(self._beam_queue), self._beam_batch)
            return self._beam_events([self._beam_queue.popleft() for _ in range(n)])
        return []

    def _events(self, outputs: list[Any]) -> list[Any]:
        events: list[Any] = []
        for out in outputs:
            rid = _request_id(out.request_id)
            tokens = self._live.get(rid)
            if tokens is None:
                continue  # aborted by stop()
            completion = out.outputs[0]
            new = [int(t) for t in completion.token_ids]
            if self._delta:
                tokens.extend(new)
            else:
                tokens[:] = new
            if tokens and rid not in self._first_sent:
                self._first_sent.add(rid)
                events.append(FirstToken(rid, tokens[0]))
            if out.finished:
                del self._live[rid]
                self._first_sent.discard(rid)
                reason = str(getattr(completion, "finish_reason", None) or "")
                if not tokens:
                    raise RuntimeError(
                        f"vLLM finished request {rid} without a token (finish_reason {reason!r})"
                    )
                events.append(Completion(rid, tuple(tokens), reason))
        return events

    def _beam_events(self, items: list[tuple[int, list[int]]]) -> list[Any]:
        prompts = [self._prompt_cls(prompt_token_ids=ids) for _, ids in items]
        outputs = self._llm.beam_search(prompts, self._beam_params)
        events: list[Any] = []
        for (rid, ids), out in zip(items, outputs, strict=True):
            best = out.sequences[0]  # sorted best first
            tokens = tuple(int(t) for t in best.tokens[len(ids) :])  # tokens hold the prompt
            if not tokens:
                raise RuntimeError(f"vLLM's beam search returned no token for request {rid}")
            reason = str(getattr(best, "finish_reason", None) or "")
            events += [FirstToken(rid, tokens[0]), Completion(rid, tokens, reason)]
        return events

    # ---- the batch path ------------------------------------------------------------------
    def predict(self, inputs: np.ndarray) -> np.ndarray:
        if self._thread is not None:
            raise RuntimeError("predict() while the engine loop runs: submit() instead")
        rows = np.asarray(inputs)
        if rows.ndim != 2 or rows.shape[1] < 2:
            raise DataError(
                f"the generation backend takes (n, 1 + prompt) token rows, got {rows.shape}",
                "the benchmark's dataset must hand out prompt rows",
            )
        items = [(i, [int(t) for t in row[1 : 1 + int(row[0])]]) for i, row in enumerate(rows)]
        for rid, ids in items:
            self._validate(rid, ids)
        self._admit(items)
        done: dict[int, tuple[int, ...]] = {}
        while self._live or self._beam_queue:
            for event in self._advance():
                if isinstance(event, Completion):
                    done[event.request_id] = event.tokens
        width = self.settings.max_new_tokens
        out = np.zeros((len(items), 1 + width), dtype=np.int32)
        for i in range(len(items)):
            tokens = done[i][:width]
            out[i, 0] = len(tokens)
            out[i, 1 : 1 + len(tokens)] = tokens
        return out

    # ---- the Generator path (core.backend.Generator) ---------------------------------------
    def start(
        self, on_event: Callable[[Any], None], on_error: Callable[[BaseException], None]
    ) -> None:
        if self._thread is not None:
            raise RuntimeError("the vLLM loop is already running")
        self._on_event, self._on_error = on_event, on_error
        self._stopping, self._error = False, None
        self._thread = threading.Thread(target=self._run, name="vllm-engine", daemon=True)
        self._thread.start()

    def submit(self, request_id: int, prompt: np.ndarray) -> None:
        ids = [int(t) for t in np.asarray(prompt).reshape(-1)]
        self._validate(request_id, ids)
        with self._cond:
            if request_id in self._known:
                raise ValueError(f"request id {request_id!r} is already in flight")
            self._known.add(request_id)
            self._inbox.append((int(request_id), ids))
            self._cond.notify()

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not (self._stopping or self._inbox or self._live or self._beam_queue):
                        self._cond.wait(0.5)
                    if self._stopping:
                        return
                    batch, self._inbox = self._inbox, []
                self._admit(batch)
                for event in self._advance():
                    if isinstance(event, Completion):
                        with self._cond:
                            self._known.discard(event.request_id)
                    self._on_event(event)
        except BaseException as err:  # noqa: BLE001 - handed to the owner, never lost
            log.exception("vLLM engine loop failed")
            self._error = err
            self._on_error(err)

    def stop(self) -> None:
        thread = self._thread
        if thread is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        thread.join(timeout=60)
        if thread.is_alive():
            raise RuntimeError("the vLLM engine loop did not stop within 60 s")
        self._thread = None
        if self._live:  # requests LoadGen no longer waits for (a failed or stopped test)
            try:
                self._engine.abort_request([f"{_ID_PREFIX}{rid}" for rid in self._live])
            except Exception as exc:  # noqa: BLE001 - the engine is closed next anyway
                log.warning("vLLM: aborting %d requests failed: %s", len(self._live), exc)
        self._live.clear()
        self._first_sent.clear()
        self._beam_queue.clear()
        with self._cond:
            self._inbox.clear()
            self._known.clear()
        error, self._error = self._error, None
        if error is not None:
            raise error

    # ---- facts and resources -------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        s = self.settings
        torch = sys.modules.get("torch")
        decoding = (
            f"beam search ({s.num_beams} beams, vLLM LLM.beam_search)" if self.beams else "greedy"
        )
        out: dict[str, Any] = {
            "backend": "vllm",
            "engine": "vLLM (paged KV cache, continuous batching)",
            "vllm_version": self.vllm_version,
            "torch_version": str(getattr(torch, "__version__", "")) or None,
            "device": self.config.device,
            "model_path": self.config.model,
            "dtype": str(self._model_config("dtype", self.config.dtype)).removeprefix("torch."),
            "max_model_len": self.max_model_len,
            "max_sequences": self.capabilities.max_batch,
            "kv_cache_blocks": self._cache_blocks(),
            "engine_args": _json_safe(self.config.engine_kwargs()),
            "decoding": decoding,
            "max_new_tokens": s.max_new_tokens,
            "min_new_tokens": s.min_new_tokens,
            "eos_token_ids": list(s.eos_token_ids) if s.eos_token_ids else None,
            "stream_first_token": self.config.stream_first_token,
        }
        if self.beams:
            out["beam_search_params"] = beam_search_kwargs(s)
            out["beam_search_differences"] = beam_search_differences(s, self._tokenizer_eos())
        else:
            out["sampling_params"] = sampling_kwargs(s, stream=self.config.stream_first_token)
        return out

    def close(self) -> None:
        try:
            self.stop()
        finally:
            llm, self._llm = self._llm, None
            if llm is not None:
                _shutdown(llm)


def _shutdown(llm: Any) -> None:
    """End the engine's processes (best effort: the method's place differs between versions)."""
    engine = getattr(llm, "llm_engine", None)
    for target in (engine, getattr(engine, "engine_core", None)):
        shutdown = getattr(target, "shutdown", None)
        if callable(shutdown):
            try:
                shutdown()
                return
            except Exception as exc:  # noqa: BLE001 - shutting down anyway
                log.debug("vLLM shutdown via %s failed: %s", type(target).__name__, exc)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
