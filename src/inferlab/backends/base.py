"""What every backend declares once, in its config section: the settings ``RunConfig`` holds
for it (``RunConfig.backend_options``), and what the rest of inferlab asks of it instead of
comparing its name: static checks, how one replica is built, where samples may live, the
default batch, the labels of results. Importing this module imports no heavy library."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

from inferlab.core.errors import UnsupportedError
from inferlab.core.spec import BatchRule

if TYPE_CHECKING:
    from inferlab.core.backend import Backend
    from inferlab.core.dataset import Dataset
    from inferlab.core.spec import Variant
    from inferlab.core.task import BenchmarkTask, ModelFacts

# The pydantic error type of a config error that carries its fix (``ctx["fix"]``); the config
# loader turns it into a ConfigError with that fix.
CONFIG_ERROR = "inferlab_config"


def config_error(message: str, fix: str) -> PydanticCustomError:
    """A validation error that the config loader reports as ``message (fix: fix)``."""
    return PydanticCustomError(CONFIG_ERROR, "{message}", {"message": message, "fix": fix})


@dataclass(frozen=True)
class StaticContext:
    """What a backend's static checks see (before anything is built)."""

    device: str  # --device as given (cuda:0,1, cpu, ...)
    devices: tuple[str, ...]  # one per replica, as far as known without a device count
    multi: bool  # several replicas
    dtype: str
    threads: int | None


@dataclass(frozen=True)
class BuildContext:
    """What a backend needs to build one replica on ``device``."""

    device: str  # this replica's device: cpu, cuda, cuda:N
    dtype: str
    max_batch: int
    threads: int | None
    seed: int
    task: BenchmarkTask
    variant: Variant
    model_path: Path | None
    data_dir: Path | None
    cache_dir: Path | None
    dataset: Dataset | None


class BackendSection(BaseModel):
    """A backend's settings in ``RunConfig.backend_options`` and its entry in the backend table
    (:mod:`inferlab.backends.registry`). Each backend subclasses it once, in its ``section.py``,
    with ``name`` a ``Literal`` of its table name (the union's discriminator; not dumped:
    ``RunConfig.backend`` holds the name)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str

    # --- what other code asks instead of the name ---------------------------------------
    # The run loads a model (a checkpoint or a model file); False: it stands in for one.
    loads_model: ClassVar[bool] = True
    # How results of a run without trained weights are labelled ("random weights").
    random_weights_label: ClassVar[str] = "random weights"
    # Several replicas (--device cuda:0,1 / cpu:0,1).
    multi_device: ClassVar[bool] = True
    # Samples may live in device memory (a SampleStore the backend builds: ``device_store``).
    device_stores: ClassVar[bool] = False
    # The largest batch when --batch-size is not given.
    batch_rule: ClassVar[BatchRule] = BatchRule()
    # Python distributions the backend needs (``inferlab check`` inspects them).
    requires: ClassVar[tuple[str, ...]] = ()
    # The system description's framework: (label, distributions that may provide it).
    frameworks: ClassVar[tuple[tuple[str, tuple[str, ...]], ...]] = ()
    # Flat RunConfig keys of earlier versions (YAML files, --set, stored result.json configs)
    # that now live in this section: flat key -> (section key, the value that means "unset").
    flat_keys: ClassVar[dict[str, tuple[str, Any]]] = {}

    # --- hooks ------------------------------------------------------------------------------
    def store_choice(self) -> str:
        """Where samples should live: auto, host or device (``sample_store``)."""
        return "host"

    def check_static(self, ctx: StaticContext) -> None:
        """Checks that build nothing (run before a run directory exists). Raises
        ConfigError/UnsupportedError with the fix."""

    def cuda_device_count(self) -> int | None:
        """How many CUDA devices this backend sees (for cuda:all), None: it cannot tell."""
        return None

    def build(self, ctx: BuildContext) -> tuple[Backend, ModelFacts]:
        """One replica's backend on ``ctx.device``, with the facts of its model."""
        raise NotImplementedError(type(self).__name__)

    def device_store(self, backend: Backend, dataset: Dataset, capacity: int) -> Any:
        """A SampleStore holding samples in ``backend``'s device memory."""
        raise UnsupportedError(
            f"the {self.name} backend keeps samples on the host only", "use sample_store host"
        )

    # --- facts about the section's keys ---------------------------------------------------
    @classmethod
    def unset_value(cls, key: str) -> Any:
        """The value of section key ``key`` that means "not set" in a flat legacy config."""
        for section_key, unset in cls.flat_keys.values():
            if section_key == key:
                return unset
        return None

    @classmethod
    def accepts(cls, key: str) -> bool:
        """Whether ``key`` may appear in this section's input (fields and legacy inputs)."""
        return key in cls.model_fields or any(k == key for k, _ in cls.flat_keys.values())
