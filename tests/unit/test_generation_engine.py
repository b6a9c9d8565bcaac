"""The generation engine equals `transformers`' ``generate`` token for token (tiny random Llama
and GPT-J, fp32, CPU): greedy in one continuous batch with requests joining mid-way, beam search
with GPT-J's MLPerf settings next to other requests, EOS and per-request limits; streaming
events and the thread API."""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch  # noqa: E402

from inferlab.generation.engine import (  # noqa: E402
    Completion,
    Engine,
    EngineLoop,
    Event,
    FirstToken,
    Request,
)
from inferlab.generation.models import Arch, random_model, tiny_config  # noqa: E402

VOCAB = 256
# GPT-J's MLPerf generation settings (language/gpt-j/backend_PyTorch.py)
GPTJ_BEAM = dict(num_beams=4, early_stopping=True, min_new_tokens=30, max_new_tokens=128)


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    """Tiny models gain nothing from threads, and on a shared machine two OpenMP threads wait
    for each other on every small op."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _model(arch: Arch) -> Any:
    # initializer_range 0.3: peaked next-token distributions, so no near-ties that a different
    # (but equally correct) float summation order could flip
    config = tiny_config(
        arch, vocab_size=VOCAB, num_kv_heads=2 if arch == "llama" else None, initializer_range=0.3
    )
    return random_model(config, seed=7)


@pytest.fixture(scope="module", params=["llama", "gptj"])
def model(request: pytest.FixtureRequest) -> Any:
    return _model(request.param)


def _prompts(n: int, seed: int, lo: int = 1, hi: int = 40) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(lo, hi + 1, (n,), generator=g).tolist()
    return [torch.randint(0, VOCAB, (k,), generator=g).tolist() for k in lengths]


def reference(model: Any, prompt: list[int], eos: int | None = None, **kw: Any) -> list[int]:
    """``generate`` on the prompt alone: the new tokens (an EOS that ended it included)."""
    with torch.inference_mode():
        out = model.generate(
            torch.tensor([prompt]),
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
            do_sample=False,
            eos_token_id=eos,
            pad_token_id=0,
            **kw,
        )
    return [int(t) for t in out[0, len(prompt) :].tolist()]


def _drive(engine: Engine, later: dict[int, list[Request]]) -> list[tuple[int, Event]]:
    """Step until idle; ``later[k]`` is submitted before step ``k``. (step, event) pairs."""
    events: list[tuple[int, Event]] = []
    step = 0
    while engine.has_work() or any(k >= step for k in later):
        for request in later.get(step, []):
            engine.submit(request)
        events += [(step, e) for e in engine.step()]
        step += 1
    return events


def _completions(events: list[tuple[int, Event]]) -> dict[Hashable, Completion]:
    return {e.request_id: e for _, e in events if isinstance(e, Completion)}


def test_greedy_continuous_batch_equals_generate(model: Any) -> None:
    prompts = _prompts(9, seed=1)
    limits = [1, 3, 17, 9, 24, 5, 12, 20, 7]
    reqs = [
        Request(i, p, max_new_tokens=n, ignore_eos=True)
        for i, (p, n) in enumerate(zip(prompts, limits, strict=True))
    ]
    engine = Engine(model, max_seqs=4, max_seq_len=64)
    # 6 at once (4 run, 2 wait for a free row), 3 more while they decode
    events = _drive(engine, {0: reqs[:6], 4: reqs[6:8], 9: reqs[8:]})
    done = _completions(events)
    for r in reqs:
        assert list(done[r.request_id].tokens) == reference(
            model, list(r.prompt), max_new_tokens=r.max_new_tokens
        ), r.request_id
        assert len(done[r.request_id].tokens) == r.max_new_tokens
        assert done[r.request_id].finish_reason == "length"
    # requests joined a running batch: a request's first token came while another was running
    first = {e.request_id: s for s, e in events if isinstance(e, FirstToken)}
    last = {e.request_id: s for s, e in events if isinstance(e, Completion)}
    assert any(first[a] > first[b] and first[a] < last[b] for a in first for b in first)
    assert engine.cache.used == 0


def _frequent_token(model: Any, prompt: list[int], lo: int, hi: int) -> int:
    """A token the model produces (greedy) between positions lo and hi but not before lo."""
    tokens = reference(model, prompt, max_new_tokens=hi)
    for t in tokens[lo:hi]:
        if t not in tokens[:lo]:
            return t
    return tokens[lo]


def test_greedy_eos_and_min_new_tokens_equal_generate(model: Any) -> None:
    prompt = _prompts(1, seed=2, lo=8, hi=8)[0]
    free = reference(model, prompt, max_new_tokens=40)
    eos = free[6]
    first_eos = free.index(eos)
    engine = Engine(model, max_seqs=4, max_seq_len=64, eos_token_ids=[eos])
    reqs = [
        Request("plain", prompt, max_new_tokens=40),
        Request("min", prompt, max_new_tokens=40, min_new_tokens=first_eos + 3),
        Request("ignore", prompt, max_new_tokens=40, ignore_eos=True),
        Request("own-eos", prompt, max_new_tokens=40, eos_token_ids=(free[2],)),
    ]
    out = {c.request_id: c for c in engine.generate(reqs)}
    assert list(out["plain"].tokens) == reference(model, prompt, eos, max_new_tokens=40)
    assert out["plain"].tokens[-1] == eos and len(out["plain"].tokens) == first_eos + 1
    assert out["plain"].finish_reason == "eos"
    ref_min = reference(model, prompt, eos, max_new_tokens=40, min_new_tokens=first_eos + 3)
    assert list(out["min"].tokens) == ref_min
    assert eos not in out["min"].tokens[: first_eos + 3]
    assert list(out["ignore"].tokens) == free
    assert list(out["own-eos"].tokens) == reference(model, prompt, free[2], max_new_tokens=40)


def test_beam_search_gptj_settings_equal_generate(model: Any) -> None:
    prompts = _prompts(3, seed=3, lo=5, hi=30)
    # an EOS the beams meet after the first tokens: min_new_tokens suppresses it, then it ends
    # hypotheses (early_stopping=True: done once 4 hypotheses are finished)
    eos = _frequent_token(model, prompts[0], 10, 60)
    engine = Engine(model, max_seqs=14, max_seq_len=200, eos_token_ids=[eos])
    beams = [Request(f"b{i}", p, **GPTJ_BEAM) for i, p in enumerate(prompts)]  # type: ignore[arg-type]
    greedy = [Request("g0", prompts[1], max_new_tokens=50), Request("g1", prompts[2])]
    events = _drive(engine, {0: [beams[0], greedy[0]], 3: [beams[1]], 7: [greedy[1], beams[2]]})
    done = _completions(events)
    reasons = set()
    for r in beams:
        got = list(done[r.request_id].tokens)
        assert got == reference(model, list(r.prompt), eos, **GPTJ_BEAM), r.request_id
        assert GPTJ_BEAM["min_new_tokens"] <= len(got) <= GPTJ_BEAM["max_new_tokens"]
        reasons.add(done[r.request_id].finish_reason)
    for r in greedy:
        got = list(done[r.request_id].tokens)
        assert got == reference(model, list(r.prompt), eos, max_new_tokens=r.max_new_tokens)
    assert "eos" in reasons  # the EOS path was exercised


def test_beam_search_without_early_stopping_and_short_limits(model: Any) -> None:
    prompt = _prompts(1, seed=4, lo=12, hi=12)[0]
    eos = _frequent_token(model, prompt, 3, 30)
    engine = Engine(model, max_seqs=8, max_seq_len=64, eos_token_ids=[eos])
    cases: list[dict[str, Any]] = [
        dict(num_beams=2, max_new_tokens=1),
        dict(num_beams=3, max_new_tokens=20, early_stopping=False),
        dict(num_beams=4, max_new_tokens=20, min_new_tokens=5, length_penalty=0.5),
    ]
    out = engine.generate([Request(i, prompt, **kw) for i, kw in enumerate(cases)])
    for kw, c in zip(cases, out, strict=True):
        assert list(c.tokens) == reference(model, prompt, eos, **kw), kw


def test_streaming_events() -> None:
    model = _model("llama")
    engine = Engine(model, max_seqs=8, max_seq_len=64)
    prompt = _prompts(1, seed=5, lo=6, hi=6)[0]
    engine.submit(Request("g", prompt, max_new_tokens=6, ignore_eos=True))
    engine.submit(Request("b", prompt, max_new_tokens=6, num_beams=2, ignore_eos=True))
    first_step = engine.step()
    # greedy: the first token right after prefill; beams: nothing until the search ends
    assert first_step[0] == FirstToken("g", first_step[0].token)  # type: ignore[union-attr]
    assert all(e.request_id == "g" for e in first_step)
    events = first_step
    while engine.has_work():
        events += engine.step()
    g_done = next(e for e in events if isinstance(e, Completion) and e.request_id == "g")
    assert g_done.tokens[0] == first_step[0].token  # type: ignore[union-attr]
    assert len(g_done.tokens) == 6  # the final response carries all tokens, the first included
    i = next(i for i, e in enumerate(events) if isinstance(e, Completion) and e.request_id == "b")
    assert events[i - 1] == FirstToken("b", events[i].tokens[0])  # type: ignore[union-attr]


def test_engine_loop_thread_and_submit_from_threads() -> None:
    model = _model("gptj")
    prompts = _prompts(8, seed=6)
    reqs = [Request(i, p, max_new_tokens=4 + i, ignore_eos=True) for i, p in enumerate(prompts)]
    expected = {c.request_id: c.tokens for c in Engine(model, max_seqs=3).generate(reqs)}

    engine = Engine(model, max_seqs=3, max_seq_len=128)
    got: dict[Hashable, tuple[int, ...]] = {}
    firsts: dict[Hashable, int] = {}
    finished = threading.Event()

    def on_event(event: Event) -> None:
        if isinstance(event, FirstToken):
            firsts[event.request_id] = event.token
        else:
            got[event.request_id] = event.tokens
            if len(got) == len(reqs):
                finished.set()

    with EngineLoop(engine, on_event, idle_wait_s=0.05):

        def submit_all(batch: list[Request]) -> None:
            for r in batch:
                engine.submit(r)

        threads = [threading.Thread(target=submit_all, args=(reqs[k::2],)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert finished.wait(60)
    assert got == expected
    assert all(firsts[i] == got[i][0] for i in got)


def test_engine_loop_reports_errors() -> None:
    engine = Engine(_model("llama"), max_seqs=2, max_seq_len=32)
    seen: list[BaseException] = []

    def on_event(event: Event) -> None:
        raise RuntimeError("callback failed")

    loop = EngineLoop(engine, on_event, on_error=seen.append, idle_wait_s=0.05).start()
    engine.submit(Request(1, [1, 2, 3], max_new_tokens=2))
    loop._thread.join(30)
    assert seen and str(seen[0]) == "callback failed"
    with pytest.raises(RuntimeError, match="callback failed"):
        loop.stop()


def test_invalid_requests() -> None:
    engine = Engine(_model("llama"), max_seqs=2, max_seq_len=32)
    with pytest.raises(ValueError, match="empty prompt"):
        engine.submit(Request(1, []))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        engine.submit(Request(1, [VOCAB]))
    with pytest.raises(ValueError, match="exceeds max_seq_len 32"):
        engine.submit(Request(1, [1] * 20, max_new_tokens=13))
    with pytest.raises(ValueError, match="num_beams 4 outside 1..2"):
        engine.submit(Request(1, [1], num_beams=4))
    with pytest.raises(ValueError, match="max_new_tokens must be >= 1"):
        engine.submit(Request(1, [1], max_new_tokens=0))
    engine.submit(Request(1, [1], max_new_tokens=2))
    with pytest.raises(ValueError, match="already in flight"):
        engine.submit(Request(1, [2], max_new_tokens=2))
    engine.generate([])
    assert not engine.has_work()
    engine.submit(Request(1, [2], max_new_tokens=1))  # the id is free again once completed


def test_rows_are_reused_and_kept_compact() -> None:
    engine = Engine(_model("llama"), max_seqs=2, max_seq_len=64)
    prompts = _prompts(5, seed=8)
    reqs = [Request(i, p, max_new_tokens=2 + 3 * i, ignore_eos=True) for i, p in enumerate(prompts)]
    engine.submit(reqs[0])
    engine.submit(reqs[4])  # long: outlives the others, its row moves when row 0 is freed
    sizes = []
    for r in reqs[1:4]:
        engine.submit(r)
    while engine.has_work():
        engine.step()
        sizes.append(engine.cache.used)
        assert [s.row for s in engine.cache.seqs] == list(range(engine.cache.used))
    assert max(sizes) == 2 and sizes[-1] == 0
