"""CUDA graphs of a model, one per batch size (the torch backend's mode ``cudagraph``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import torch

from inferlab.core.errors import ModelError

log = logging.getLogger(__name__)

GRAPH_WARMUP_ITERS = 3  # eager runs on a side stream before each capture

Replay = Callable[[], None]
GraphKey = tuple[int, tuple[int, ...], torch.dtype]  # batch size, sample shape, input dtype


class CudaGraphs:
    """One captured CUDA graph per (batch size, sample shape, input dtype) of a model.

    Each graph owns a static input buffer (allocated outside the capture) and a static output.
    :meth:`run` copies a batch into the smallest captured size >= n (the rest zero-filled),
    replays, and returns a float32 copy of the first n outputs (the static output is
    overwritten by the next replay of any graph: all graphs share one memory pool). Batches
    larger than the largest size run in chunks. One lock serialises capture, copy-in, replay
    and copy-out. Graphs are captured on first use of a key, or ahead by :meth:`capture_all`.
    ``capture(model, static_input) -> (replay, static_output)`` replaces the CUDA capture
    (tests use an eager stand-in on CPU).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        sizes: tuple[int, ...],
        device: torch.device,
        dtype: torch.dtype,
        *,
        channels_last: bool,
        before_capture: Callable[[], None] = lambda: None,
        capture: Callable[[torch.nn.Module, torch.Tensor], tuple[Replay, Any]] | None = None,
    ) -> None:
        self.model = model
        self.sizes = tuple(sorted(sizes))
        self.device = device
        self.dtype = dtype
        self.channels_last = channels_last
        self.before_capture = before_capture
        self.capture = capture or self._cuda_capture
        self.graphs: dict[GraphKey, tuple[Replay, torch.Tensor, torch.Tensor]] = {}
        self.lock = threading.Lock()
        self.pool: Any = None
        self.stream: torch.cuda.Stream | None = None

    def _key(self, size: int, x: torch.Tensor) -> GraphKey:
        dtype = self.dtype if x.is_floating_point() else x.dtype
        return size, tuple(x.shape[1:]), dtype

    def _cuda_capture(self, model: torch.nn.Module, static_in: torch.Tensor) -> tuple[Replay, Any]:
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):  # warm up (allocator, cuDNN/cuBLAS handles) off-graph
            for _ in range(GRAPH_WARMUP_ITERS):
                model(static_in)
        torch.cuda.current_stream(self.device).wait_stream(side)
        if self.pool is None:
            self.pool = torch.cuda.graph_pool_handle()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool, capture_error_mode="thread_local"):
            static_out = model(static_in)
        return graph.replay, static_out

    def _capture(self, key: GraphKey) -> tuple[Replay, torch.Tensor, torch.Tensor]:
        size, sample_shape, dtype = key
        self.before_capture()
        static_in = torch.zeros((size, *sample_shape), dtype=dtype, device=self.device)
        if self.channels_last and static_in.dim() == 4:
            static_in = static_in.contiguous(memory_format=torch.channels_last)
        replay, static_out = self.capture(self.model, static_in)
        if not isinstance(static_out, torch.Tensor):
            raise ModelError(
                f"the model returned a {type(static_out).__name__}, the torch backend needs "
                "one tensor",
                "wrap the model so that forward() returns a single tensor",
            )
        log.info("captured a CUDA graph for batch %d of %s %s", size, sample_shape, dtype)
        entry = (replay, static_in, static_out)
        self.graphs[key] = entry
        return entry

    def capture_all(self, sample: torch.Tensor) -> None:
        """Capture every size for ``sample``'s shape and dtype, largest first (so the smaller
        graphs reuse its pool memory)."""
        with self.lock:
            for size in reversed(self.sizes):
                key = self._key(size, sample)
                if key not in self.graphs:
                    self._capture(key)

    def _run_one(self, x: torch.Tensor) -> torch.Tensor:
        n = int(x.shape[0])
        size = next(s for s in self.sizes if s >= n)
        key = self._key(size, x)
        with self.lock:
            replay, static_in, static_out = self.graphs.get(key) or self._capture(key)
            if self.device.type != "cuda":  # an eager stand-in (tests)
                return self._replay(replay, x, static_in, static_out)
            # Callers may run on their own streams (one per batch thread); the static
            # buffers are shared, so copy-in, replay and copy-out run on one stream, in the
            # order of this lock, and the caller's stream waits for the result.
            caller = torch.cuda.current_stream(self.device)
            if self.stream is None:
                self.stream = torch.cuda.Stream(self.device)
            self.stream.wait_stream(caller)  # x is ready
            with torch.cuda.stream(self.stream):
                out = self._replay(replay, x, static_in, static_out)
            caller.wait_stream(self.stream)
            # out was allocated on self.stream: keep its memory until the caller's stream is
            # done with it. (x needs nothing: a block is reused on its own stream only, and
            # the caller's stream now waits for the read.)
            out.record_stream(caller)
            return out

    @staticmethod
    def _replay(
        replay: Replay, x: torch.Tensor, static_in: torch.Tensor, static_out: torch.Tensor
    ) -> torch.Tensor:
        n = int(x.shape[0])
        static_in[:n].copy_(x)
        if n < static_in.shape[0]:
            static_in[n:].zero_()
        replay()
        return static_out[:n].to(torch.float32, copy=True)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        step = self.sizes[-1]
        if x.shape[0] <= step:
            return self._run_one(x)
        return torch.cat([self._run_one(x[i : i + step]) for i in range(0, x.shape[0], step)])

    def captured(self) -> list[int]:
        return sorted({size for size, _, _ in self.graphs})
