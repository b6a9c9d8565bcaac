"""Error types. Every user-facing error carries the fix in one line."""

from __future__ import annotations


class InferlabError(Exception):
    """An error the user can fix. ``str(err)`` is one line: what is wrong, then the fix."""

    exit_code = 2

    def __init__(self, message: str, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(message if not fix else f"{message} (fix: {fix})")


class ConfigError(InferlabError):
    """Invalid configuration: unknown benchmark, scenario, dtype, key, bad YAML."""


class DataError(InferlabError):
    """A dataset is missing, incomplete or corrupt."""


class ModelError(InferlabError):
    """A model file is missing or does not fit the network."""


class UnsupportedError(InferlabError):
    """A combination that is valid in general but not supported here (tests turn it into a skip)."""


class RunFailed(InferlabError):
    """The run itself failed (worker crash, watchdog, LoadGen error)."""

    exit_code = 1
