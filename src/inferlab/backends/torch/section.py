"""The torch backend's section of RunConfig (``--backend torch``) and its entry in the backend
table. Importing this module does not import torch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from inferlab.backends.base import BackendSection, BuildContext, StaticContext, config_error
from inferlab.backends.torch.config import (
    COMPILE_MODES,
    TorchBackendConfig,
    TorchMode,
    cuda_visible_or_raise,
)
from inferlab.core.errors import UnsupportedError
from inferlab.core.option import CliOption
from inferlab.core.spec import BatchRule

if TYPE_CHECKING:
    from inferlab.core.backend import Backend
    from inferlab.core.dataset import Dataset
    from inferlab.core.task import ModelFacts

SampleStoreChoice = Literal["auto", "host", "device"]


class TorchSection(BackendSection):
    """``--backend torch``: the settings a torch run adds to the run's device, dtype and
    threads. ``compile`` (true/false) is accepted as input, as before: ``compile=true`` means
    mode compile (or keeps max-autotune)."""

    name: Literal["torch"] = Field(default="torch", exclude=True)
    mode: Annotated[
        TorchMode,
        CliOption(
            "Torch backend mode: eager, compile (torch.compile), max-autotune or cudagraph "
            "(CUDA graphs per batch size).",
            flag="--torch-mode",
        ),
    ] = "eager"
    fold_bn: Annotated[
        bool | None,
        CliOption(
            "Fold batch-norm into convs.", flag="--fold-bn/--no-fold-bn", default_text="on CUDA"
        ),
    ] = Field(default=None, description="fold batch-norm into the convolutions (None: on CUDA)")
    channels_last: Annotated[
        bool | None,
        CliOption(
            "NHWC for image models.",
            flag="--channels-last/--no-channels-last",
            default_text="on CUDA",
        ),
    ] = Field(default=None, description="NHWC memory format for image models (None: on CUDA)")
    sample_store: Annotated[
        SampleStoreChoice,
        CliOption(
            "Where samples live: device (uint8 on the GPU, normalised there), host, or auto "
            "(device on CUDA when the dataset allows it).",
            flag="--sample-store",
        ),
    ] = Field(
        default="auto",
        description="where samples live: device memory (uint8, normalised on the device), the "
        "host, or auto (device on CUDA when the dataset allows it)",
    )
    compile_cache_dir: Path | None = Field(
        default=None,
        description="torch.compile's on-disk caches (None: <cache_dir>/torch-compile)",
    )

    device_stores: ClassVar[bool] = True
    batch_rule: ClassVar[BatchRule] = BatchRule(gpu_defaults=True)
    requires: ClassVar[tuple[str, ...]] = ("torch",)
    frameworks: ClassVar[tuple[tuple[str, tuple[str, ...]], ...]] = (("PyTorch", ("torch",)),)
    flat_keys: ClassVar[dict[str, tuple[str, Any]]] = {
        "torch_mode": ("mode", None),
        "compile": ("compile", False),
        "fold_bn": ("fold_bn", None),
        "channels_last": ("channels_last", None),
        "sample_store": ("sample_store", "auto"),
        "compile_cache_dir": ("compile_cache_dir", None),
    }

    @model_validator(mode="before")
    @classmethod
    def _compile_means_a_mode(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "mode" in data and data["mode"] is None:  # torch_mode: null (stored): the default
            del data["mode"]
        compile_ = data.pop("compile", False)
        if not isinstance(compile_, bool):
            raise config_error(
                f"compile must be true or false, got {compile_!r}", "use compile: true or false"
            )
        mode = data.get("mode")
        if compile_ and mode is None:
            data["mode"] = "compile"
        elif compile_ and mode not in COMPILE_MODES:
            raise config_error(
                f"compile=true contradicts torch_mode={mode}",
                "drop --compile or choose --torch-mode compile / max-autotune",
            )
        return data

    def store_choice(self) -> str:
        return self.sample_store

    def check_static(self, ctx: StaticContext) -> None:
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            raise UnsupportedError(
                "the torch backend needs PyTorch, which is not installed",
                "pip install 'inferlab[torch]' (or use --backend null)",
            )
        for device in dict.fromkeys(ctx.devices):
            TorchBackendConfig(
                device=device, dtype=ctx.dtype, threads=ctx.threads, mode=self.mode
            ).check_static()
            if device.startswith("cuda"):  # this machine, before a run directory exists
                cuda_visible_or_raise(device)

    def cuda_device_count(self) -> int | None:
        import torch

        return int(torch.cuda.device_count())

    def build(self, ctx: BuildContext) -> tuple[Backend, ModelFacts]:
        from inferlab.backends.torch.backend import TorchBackend

        on_cuda = ctx.device.startswith("cuda")
        compile_dir = self.compile_cache_dir or (
            ctx.cache_dir / "torch-compile" if ctx.cache_dir is not None else None
        )
        tcfg = TorchBackendConfig(
            device=ctx.device,
            dtype=ctx.dtype,
            max_batch=ctx.max_batch,
            threads=ctx.threads,
            mode=self.mode,
            fold_bn=on_cuda if self.fold_bn is None else self.fold_bn,
            channels_last=(
                on_cuda and ctx.task.image_inputs
                if self.channels_last is None
                else self.channels_last
            ),
            compile_cache_dir=str(compile_dir) if compile_dir is not None else None,
        )
        model, facts = ctx.task.build_model(ctx.variant, ctx.model_path, seed=ctx.seed)
        settings = ctx.task.generation_settings(ctx.variant)
        if settings is not None:  # an LLM: the model runs inside the generation engine
            from inferlab.backends.torch.generation import TorchGenerationBackend

            gen = TorchGenerationBackend(model, tcfg, settings, random_weights=facts.random_weights)
            return gen, facts
        calibration = None
        if ctx.dtype in ("int8", "fp8"):
            if ctx.dataset is None:
                raise AssertionError(f"{ctx.dtype} calibration needs the run's dataset")
            calibration = ctx.task.calibration_set(ctx.dataset, ctx.data_dir, ctx.max_batch)
        backend = TorchBackend(
            model, tcfg, random_weights=facts.random_weights, calibration=calibration
        )
        return backend, facts

    def device_store(self, backend: Backend, dataset: Dataset, capacity: int) -> Any:
        from inferlab.backends.torch.store import DeviceStore

        tb: Any = backend
        return DeviceStore(
            dataset,
            tb.device,
            tb.dtype,
            channels_last=bool(tb.config.channels_last),
            capacity=capacity,
        )
