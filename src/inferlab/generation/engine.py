"""The generation engine: prefill/decode with a KV cache and continuous batching.

Requests (:class:`Request`: prompt ids, new-token limits, greedy or beam search) join the
running batch between decode steps and leave it as soon as they finish; a finished request's
cache rows are free for the next one in the same step. Each :meth:`Engine.step`

1. takes the requests submitted since the last step (``submit`` may be called from any thread);
2. admits waiting requests in arrival order while cache rows are free (a beam request needs
   ``num_beams`` rows) and the step's prefill budget lasts (at least one request per step),
   prefilling each one alone (no padding) and choosing its first token;
3. runs one decode step for every running sequence (greedy requests and beams alike), picks
   each next token (greedy: argmax; beams: :class:`~inferlab.generation.beam.BeamSearch`),
   and retires the sequences that finished.

It returns the step's events in order: :class:`FirstToken` and :class:`Completion`.

**Streaming.** A greedy request's first token is reported right after its prefill (the step it
is admitted in); a beam request's first token is that of the best hypothesis, known only when
the search ends, so its :class:`FirstToken` comes in the same step as, and just before, its
:class:`Completion`. A :class:`Completion` always carries **all** generated tokens, the first
included (TEST06 compares the first-token payload with the start of the final one), and an
EOS that ended the request included (as ``generate`` returns it).

**Threads.** ``submit`` is thread-safe. ``step`` (and ``generate``, which drives ``step``) must
be called from one thread at a time; :class:`EngineLoop` is that thread for a LoadGen SUT: it
steps while there is work, sleeps on a condition when there is none, and hands every event to
a callback on its own thread.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import torch

from inferlab.generation.beam import BeamSearch, EarlyStopping
from inferlab.generation.forward import ModelRunner

log = logging.getLogger(__name__)

FinishReason = Literal["eos", "length"]


@dataclass(frozen=True)
class Request:
    """One prompt to complete. Defaults are ``generate``'s: greedy, ``length_penalty=1.0``,
    ``early_stopping=False``. GPT-J's MLPerf settings: ``num_beams=4, early_stopping=True,
    min_new_tokens=30, max_new_tokens=128``.

    ``eos_token_ids=None`` takes the engine's; ``ignore_eos=True`` never stops at EOS (and
    ``min_new_tokens`` is then moot), as ``generate`` without an EOS id.
    """

    request_id: Hashable
    prompt: Sequence[int]
    max_new_tokens: int = 128
    min_new_tokens: int = 0
    num_beams: int = 1
    early_stopping: EarlyStopping = False
    length_penalty: float = 1.0
    eos_token_ids: tuple[int, ...] | None = None
    ignore_eos: bool = False


@dataclass(frozen=True)
class FirstToken:
    """The request's first generated token (greedy: after prefill; beams: at completion)."""

    request_id: Hashable
    token: int


@dataclass(frozen=True)
class Completion:
    """A finished request: every generated token, the first one and a final EOS included."""

    request_id: Hashable
    tokens: tuple[int, ...]
    finish_reason: FinishReason
    prompt_len: int = 0


Event = FirstToken | Completion


@dataclass(eq=False)
class _Seq:
    """One running sequence (a greedy request, or one beam): a cache row and the next input."""

    owner: _Active
    row: int = -1
    length: int = 0  # tokens in the cache
    next_token: int = 0


@dataclass(eq=False)
class _Active:
    request: Request
    eos: tuple[int, ...]
    seqs: list[_Seq] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)  # greedy
    beam: BeamSearch | None = None


class Engine:
    """Continuous-batching generation on a Llama or GPT-J model (see the module docstring).

    ``max_seqs``: cache rows, i.e. running sequences at once (a beam request takes
    ``num_beams``); ``max_seq_len``: prompt + new tokens of any request (the cache holds
    ``max_seqs x max_seq_len`` tokens per layer, allocated once); ``max_prefill_tokens``: prompt
    tokens prefilled per step beyond the first request (bounds the stall of running requests).
    ``eos_token_ids``: the default for requests without their own (``None``: the model's
    generation config, then its config).
    """

    def __init__(
        self,
        model: Any,
        *,
        max_seqs: int = 64,
        max_seq_len: int = 2048,
        max_prefill_tokens: int = 4096,
        eos_token_ids: Iterable[int] | None = None,
    ) -> None:
        self.runner = ModelRunner(model)
        if max_seqs < 1 or max_seq_len < 2:
            raise ValueError("max_seqs must be >= 1 and max_seq_len >= 2")
        self.max_seqs = max_seqs
        self.max_seq_len = min(max_seq_len, self.runner.max_positions)
        self.max_prefill_tokens = max_prefill_tokens
        self.eos_token_ids = (
            tuple(int(t) for t in eos_token_ids) if eos_token_ids is not None else _model_eos(model)
        )
        self.cache = self.runner.new_cache(max_seqs, self.max_seq_len)
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._inbox: list[Request] = []
        self._known: set[Hashable] = set()  # ids submitted and not yet completed
        self._waiting: deque[_Active] = deque()
        self._active: list[_Active] = []
        self._retired: list[_Active] = []  # finished this step, rows freed at its end
        self.steps = 0
        self.decode_rows = 0  # sum over decode steps of the running sequences (batch fill)

    # ---- submission (any thread) ---------------------------------------------------------

    def submit(self, request: Request) -> None:
        """Queue ``request`` for the next step. :class:`ValueError` for a request the engine
        cannot run (empty prompt, ids out of the vocabulary, too long, too many beams, an id
        already in flight)."""
        self._validate(request)
        with self._wakeup:
            if request.request_id in self._known:
                raise ValueError(f"request id {request.request_id!r} is already in flight")
            self._known.add(request.request_id)
            self._inbox.append(request)
            self._wakeup.notify()

    def has_work(self) -> bool:
        with self._lock:
            return bool(self._inbox or self._waiting or self._active)

    def wait_for_work(self, timeout: float | None = None) -> bool:
        """Block until a request is submitted or ``timeout`` passes; whether there is work."""
        with self._wakeup:
            if not (self._inbox or self._waiting or self._active):
                self._wakeup.wait(timeout)
            return bool(self._inbox or self._waiting or self._active)

    def notify(self) -> None:
        """Wake a thread in :meth:`wait_for_work` (used to stop :class:`EngineLoop`)."""
        with self._wakeup:
            self._wakeup.notify_all()

    # ---- the loop (one thread) -----------------------------------------------------------

    def step(self) -> list[Event]:
        """Admit and prefill waiting requests, then one decode step; the events, in order."""
        with self._lock:
            for request in self._inbox:
                self._waiting.append(_Active(request, self._eos_for(request)))
            self._inbox.clear()
        events: list[Event] = []
        with torch.inference_mode():
            self._admit(events)
            if self.cache.used:
                self._decode(events)
                self._free_rows()
        self.steps += 1
        return events

    def generate(self, requests: Iterable[Request]) -> list[Completion]:
        """Run ``requests`` to completion (continuous batching); completions in request order.
        Not to be mixed with a running :class:`EngineLoop`."""
        order = []
        for request in requests:
            self.submit(request)
            order.append(request.request_id)
        done: dict[Hashable, Completion] = {}
        while self.has_work():
            for event in self.step():
                if isinstance(event, Completion):
                    done[event.request_id] = event
        return [done[i] for i in order]

    # ---- scheduling ----------------------------------------------------------------------

    def _admit(self, events: list[Event]) -> None:
        budget = self.max_prefill_tokens
        admitted = 0
        while self._waiting:
            active = self._waiting[0]
            request = active.request
            if self.cache.free < request.num_beams:
                break
            if admitted and len(request.prompt) > budget:
                break
            self._waiting.popleft()
            budget -= len(request.prompt)
            admitted += 1
            self._prefill(active, events)
            self._free_rows()

    def _prefill(self, active: _Active, events: list[Event]) -> None:
        request = active.request
        prompt = [int(t) for t in request.prompt]
        active.seqs = [_Seq(active) for _ in range(request.num_beams)]
        for seq in active.seqs:
            self.cache.add(seq)
            seq.length = len(prompt)
        rows = [s.row for s in active.seqs]
        logits = self.runner.prefill(self.cache, rows[0], prompt)
        if request.num_beams == 1:
            self._active.append(active)
            self._greedy([active], logits, events)
            return
        self.cache.copy_rows(rows[1:], rows[:1] * (len(rows) - 1), len(prompt))
        active.beam = BeamSearch(
            num_beams=request.num_beams,
            max_new_tokens=request.max_new_tokens,
            min_new_tokens=request.min_new_tokens,
            eos_token_ids=active.eos,
            length_penalty=request.length_penalty,
            early_stopping=request.early_stopping,
            device=logits.device,
        )
        self._active.append(active)
        self._beam_step(active, logits.expand(request.num_beams, -1), events)

    def _decode(self, events: list[Event]) -> None:
        seqs = cast(list[_Seq], self.cache.seqs)
        device = self.runner.device
        tokens = torch.tensor([s.next_token for s in seqs], dtype=torch.long, device=device)
        positions = torch.tensor([s.length for s in seqs], dtype=torch.long, device=device)
        logits = self.runner.decode(self.cache, tokens, positions)
        self.decode_rows += len(seqs)
        for s in seqs:
            s.length += 1
        greedy = sorted((a for a in self._active if a.beam is None), key=lambda a: a.seqs[0].row)
        beams = [a for a in self._active if a.beam is not None]
        if greedy:
            self._greedy(greedy, _rows(logits, [a.seqs[0].row for a in greedy]), events)
        for active in beams:
            self._beam_step(active, _rows(logits, [s.row for s in active.seqs]), events)

    def _greedy(self, actives: list[_Active], logits: torch.Tensor, events: list[Event]) -> None:
        """Argmax for each request (``logits``: one row each, in order), after EOS suppression
        below ``min_new_tokens``."""
        for i, active in enumerate(actives):
            if active.eos and len(active.tokens) < active.request.min_new_tokens:
                logits[i, list(active.eos)] = -float("inf")
        chosen = logits.argmax(dim=-1).tolist()
        for active, token in zip(actives, chosen, strict=True):
            active.tokens.append(token)
            if len(active.tokens) == 1:
                events.append(FirstToken(active.request.request_id, token))
            if token in active.eos:
                self._finish(active, active.tokens, "eos", events)
            elif len(active.tokens) >= active.request.max_new_tokens:
                self._finish(active, active.tokens, "length", events)
            else:
                active.seqs[0].next_token = token

    def _beam_step(self, active: _Active, logits: torch.Tensor, events: list[Event]) -> None:
        beam = active.beam
        assert beam is not None
        parents, tokens = beam.step(logits)
        if beam.done:
            best = beam.best()
            events.append(FirstToken(active.request.request_id, best[0]))
            reason: FinishReason = "eos" if best[-1] in active.eos else "length"
            self._finish(active, best, reason, events)
            return
        rows = [s.row for s in active.seqs]
        self.cache.copy_rows(rows, [rows[p] for p in parents.tolist()], active.seqs[0].length)
        for seq, token in zip(active.seqs, tokens.tolist(), strict=True):
            seq.next_token = token

    def _finish(
        self, active: _Active, tokens: list[int], reason: FinishReason, events: list[Event]
    ) -> None:
        self._active.remove(active)
        self._retired.append(active)
        request = active.request
        events.append(Completion(request.request_id, tuple(tokens), reason, len(request.prompt)))
        with self._lock:
            self._known.discard(request.request_id)

    def _free_rows(self) -> None:
        """Give the finished requests' cache rows back (rows move only here, after a pass's
        logits have been read by row)."""
        for active in self._retired:
            for seq in active.seqs:
                self.cache.remove(seq)
        self._retired.clear()

    # ---- checks --------------------------------------------------------------------------

    def _eos_for(self, request: Request) -> tuple[int, ...]:
        if request.ignore_eos:
            return ()
        if request.eos_token_ids is not None:
            return tuple(int(t) for t in request.eos_token_ids)
        return self.eos_token_ids

    def _validate(self, request: Request) -> None:
        rid = request.request_id
        if not request.prompt:
            raise ValueError(f"request {rid!r}: empty prompt")
        vocab = self.runner.vocab_size
        if min(request.prompt) < 0 or max(request.prompt) >= vocab:
            raise ValueError(f"request {rid!r}: prompt ids outside the vocabulary 0..{vocab - 1}")
        if request.max_new_tokens < 1 or request.min_new_tokens < 0:
            raise ValueError(f"request {rid!r}: max_new_tokens must be >= 1, min_new_tokens >= 0")
        if not 1 <= request.num_beams <= self.max_seqs:
            raise ValueError(
                f"request {rid!r}: num_beams {request.num_beams} outside 1..{self.max_seqs} "
                "(the engine's max_seqs)"
            )
        total = len(request.prompt) + request.max_new_tokens
        if total > self.max_seq_len:
            raise ValueError(
                f"request {rid!r}: prompt {len(request.prompt)} + max_new_tokens "
                f"{request.max_new_tokens} = {total} tokens exceeds max_seq_len {self.max_seq_len}"
            )


class EngineLoop:
    """A thread that drives :meth:`Engine.step` and hands each event to ``on_event`` (called
    on the loop thread, in order). ``start()``/``stop()`` or ``with EngineLoop(...)``; an
    exception in a step or in ``on_event`` ends the loop, goes to ``on_error`` (if given) and
    is raised again by ``stop()``."""

    def __init__(
        self,
        engine: Engine,
        on_event: Callable[[Event], None],
        *,
        on_error: Callable[[BaseException], None] | None = None,
        idle_wait_s: float = 0.5,
    ) -> None:
        self.engine = engine
        self.on_event = on_event
        self.on_error = on_error
        self.idle_wait_s = idle_wait_s
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="generation-engine", daemon=True)

    def start(self) -> EngineLoop:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """End the loop after the current step and join it; re-raise a loop error."""
        self._stop.set()
        self.engine.notify()
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error

    def __enter__(self) -> EngineLoop:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if not self.engine.wait_for_work(self.idle_wait_s):
                    continue
                for event in self.engine.step():
                    self.on_event(event)
        except BaseException as err:  # noqa: BLE001 - handed to the owner, never lost
            log.exception("generation engine loop failed")
            self.error = err
            if self.on_error is not None:
                self.on_error(err)


def _rows(logits: torch.Tensor, rows: list[int]) -> torch.Tensor:
    """``logits[rows]`` (a view when the rows are ``0..n-1`` of all rows in order)."""
    if rows == list(range(logits.shape[0])):
        return logits
    return logits.index_select(0, torch.tensor(rows, device=logits.device))


def _model_eos(model: Any) -> tuple[int, ...]:
    for source in (getattr(model, "generation_config", None), model.config):
        eos = getattr(source, "eos_token_id", None)
        if eos is not None:
            return tuple(int(t) for t in (eos if isinstance(eos, list | tuple) else [eos]))
    return ()
