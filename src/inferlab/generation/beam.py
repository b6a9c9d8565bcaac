"""Beam search for one request, step for step as `transformers`' ``generate`` (version 5) does it.

``GenerationMixin._beam_search`` with a batch of one, ``do_sample=False``:

1. the running beams' float32 logits -> ``log_softmax``; then, while fewer than ``min_new_tokens``
   tokens exist, every EOS log-prob is set to -inf (``MinNewTokensLengthLogitsProcessor``, applied
   to the log-probs, which are not renormalised); each beam's running score is added;
2. the top ``K = max(2, 1 + #eos) * num_beams`` of the ``num_beams x vocab`` candidates;
   a candidate "hits" when its token is an EOS or it reaches ``max_new_tokens``;
3. the next running beams: the top ``num_beams`` candidates that did not hit;
4. finished hypotheses: hit candidates among the first ``num_beams`` of the top K, scored
   ``sum_logprobs / generated_len ** length_penalty`` (``generated_len`` counts the new token,
   EOS included), merged with the kept ones, the best ``num_beams`` kept; nothing is added
   once ``num_beams`` are kept and ``early_stopping is True``, nor once the early-stop heuristic
   says no running beam can improve;
5. the request ends when ``num_beams`` hypotheses are finished (``early_stopping=True``), when the
   heuristic says no improvement is possible, or when every candidate hit (the length limit).

The result is the best finished hypothesis (its tokens end with the EOS when EOS ended it).
At the first step only beam 0 is live (the others start at -1e9), exactly as in ``generate``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

EarlyStopping = bool | Literal["never"]
_NEG = -1.0e9


class BeamSearch:
    """The state of one request's beam search; :meth:`step` takes the running beams' logits."""

    def __init__(
        self,
        *,
        num_beams: int,
        max_new_tokens: int,
        min_new_tokens: int,
        eos_token_ids: tuple[int, ...],
        length_penalty: float,
        early_stopping: EarlyStopping,
        device: torch.device,
    ) -> None:
        self.num_beams = num_beams
        self.max_new = max_new_tokens
        self.min_new = min_new_tokens
        self.length_penalty = length_penalty
        self.early_stopping = early_stopping
        self.eos = torch.tensor(eos_token_ids, dtype=torch.long, device=device)
        self.keep = max(2, 1 + len(eos_token_ids)) * num_beams
        self.top_mask = torch.arange(self.keep, device=device) < num_beams
        self.scores = torch.full((num_beams,), _NEG, dtype=torch.float32, device=device)
        self.scores[0] = 0.0
        self.tokens = torch.empty((num_beams, 0), dtype=torch.long, device=device)
        self.finished_scores = torch.full((num_beams,), _NEG, dtype=torch.float32, device=device)
        self.finished_flags = torch.zeros(num_beams, dtype=torch.bool, device=device)
        self.finished_tokens: list[Tensor | None] = [None] * num_beams
        self.improvable = True
        self.generated = 0
        self.done = False

    def step(self, logits: Tensor) -> tuple[Tensor, Tensor]:
        """Advance by one token. ``logits``: float32 ``[num_beams, vocab]`` of the running beams.

        Returns ``(parents, tokens)``: running beam ``j`` continues beam ``parents[j]`` and is fed
        ``tokens[j]`` next (meaningless once :attr:`done`).
        """
        n, vocab = logits.shape
        g = self.generated
        log_probs = F.log_softmax(logits, dim=-1)
        if self.eos.numel() and g < self.min_new:
            log_probs[:, self.eos] = -float("inf")
        accumulated = (log_probs + self.scores[:, None]).reshape(-1)
        top_scores, top_index = torch.topk(accumulated, k=self.keep)
        beam = top_index // vocab
        token = top_index % vocab
        candidates = torch.cat([self.tokens[beam], token[:, None]], dim=1)
        if g + 1 >= self.max_new:
            hits = torch.ones_like(token, dtype=torch.bool)
        else:
            hits = torch.isin(token, self.eos)

        # running beams for the next step: the best candidates that did not finish
        running = top_scores + hits.to(torch.float32) * _NEG
        chosen = torch.topk(running, k=n)[1]
        parents, tokens = beam[chosen], token[chosen]
        self.scores = running[chosen]
        self.tokens = candidates[chosen]

        # finished hypotheses
        just_finished = hits & self.top_mask
        scored = top_scores / ((g + 1) ** self.length_penalty)
        full = bool(self.finished_flags.all()) and self.early_stopping is True
        scored = scored + float(full) * _NEG
        scored = scored + float(not self.improvable) * _NEG
        scored = scored + (~just_finished) * _NEG
        merged = torch.cat([self.finished_scores, scored])
        best = torch.topk(merged, k=n)[1]
        flags = torch.cat([self.finished_flags, just_finished])
        kept: list[Tensor | None] = []
        for i in best.tolist():
            kept.append(self.finished_tokens[i] if i < n else candidates[i - n])
        self.finished_scores, self.finished_flags = merged[best], flags[best]
        self.finished_tokens = kept

        self.generated = g + 1
        self._early_stop_heuristic()
        all_finished = bool(self.finished_flags.all()) and self.early_stopping is True
        self.done = not self.improvable or all_finished or bool(hits.all())
        return parents, tokens

    def _early_stop_heuristic(self) -> None:
        """``_check_early_stop_heuristic``: can the best running beam still beat the worst kept
        hypothesis?"""
        if self.early_stopping == "never" and self.length_penalty > 0.0:
            length = self.max_new
        else:
            length = self.generated
        best_running = self.scores[:1] / (length**self.length_penalty)
        worst = torch.where(
            self.finished_flags,
            torch.min(self.finished_scores),
            torch.tensor(_NEG, device=self.finished_scores.device),
        )
        self.improvable = self.improvable and bool(torch.any(best_running > worst))

    def best(self) -> list[int]:
        """The tokens of the best finished hypothesis."""
        tokens = self.finished_tokens[0]
        if tokens is None:
            raise RuntimeError("beam search ended without a finished hypothesis")
        return [int(t) for t in tokens.tolist()]
