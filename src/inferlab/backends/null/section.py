"""The null backend's section of RunConfig (``--backend null``) and its entry in the backend
table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from inferlab.backends.base import BackendSection, BuildContext
from inferlab.core.spec import BatchRule

if TYPE_CHECKING:
    from inferlab.core.backend import Backend
    from inferlab.core.task import ModelFacts


class NullSection(BackendSection):
    """``--backend null``: answers every batch with zeros, so a run measures LoadGen and the
    harness (no model, no data needed)."""

    name: Literal["null"] = Field(default="null", exclude=True)
    service_time_ms: float = Field(
        default=0.0, ge=0, description="simulated time per batch (ms); 0: answer at once"
    )

    fail_at: int | None = Field(
        default=None,
        ge=1,
        description="test-only fault injection: the batch (1-based, calibration's included) at "
        "which the backend fails as fail_mode says (docs/reliability.md)",
    )
    fail_mode: Literal["raise", "stall", "crash", "abort"] = Field(
        default="raise",
        description="how the fail_at batch fails: raise an exception, stall forever, crash "
        "with SIGSEGV, abort with SIGABRT",
    )
    slow_first: int = Field(
        default=0,
        ge=0,
        description="test-only: the first N batches (calibration's included) each take "
        "slow_ms longer, as on a machine busy while the worker calibrates",
    )
    slow_ms: float = Field(default=0.0, ge=0, description="see slow_first (ms)")

    loads_model: ClassVar[bool] = False
    random_weights_label: ClassVar[str] = "null backend"
    batch_rule: ClassVar[BatchRule] = BatchRule(
        fixed=256, fixed_source="the null backend's default"
    )
    flat_keys: ClassVar[dict[str, tuple[str, Any]]] = {
        "null_service_time_ms": ("service_time_ms", 0.0),
        "null_fail_at": ("fail_at", None),
        "null_fail_mode": ("fail_mode", "raise"),
        "null_slow_first": ("slow_first", 0),
        "null_slow_ms": ("slow_ms", 0.0),
    }

    def build(self, ctx: BuildContext) -> tuple[Backend, ModelFacts]:
        from inferlab.backends.null.backend import NullBackend
        from inferlab.core.task import ModelFacts

        null = NullBackend(
            output_shape=ctx.task.null_output_shape(ctx.variant),
            max_batch=ctx.max_batch,
            service_time_s=self.service_time_ms / 1000.0,
            fail_at=self.fail_at,
            fail_mode=self.fail_mode,
            slow_first=self.slow_first,
            slow_s=self.slow_ms / 1000.0,
        )
        return null, ModelFacts(random_weights=True, extra={"null_backend": True})
