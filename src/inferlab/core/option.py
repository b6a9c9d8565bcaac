"""The command-line face of a config field, declared next to the field (``Annotated`` metadata
of ``RunConfig`` and of the backends' config sections); ``inferlab run``'s options are derived
from these, with the field's type (choices of a ``Literal``) and default."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CliOption:
    """``inferlab run --<flag>`` for the field it annotates.

    ``flag``: the option's name(s), default ``--<field-name>``; for a bool, ``--x/--no-x``
    gives both (unset: the config's default applies), one name gives a switch that sets the
    opposite of the field's default (``--quick``, ``--no-calibrate``). ``short``: e.g. ``-q``.
    ``default_text``: what ``--help`` shows as the default when the field's own default is
    None (e.g. "on CUDA"). ``choices``: what ``--help`` lists for a field that is not a
    ``Literal`` (the config still validates the value, with the fix in its error).
    ``metavar``: the value's name in ``--help`` (N, FILE, DIR)."""

    help: str
    flag: str | None = None
    short: str | None = None
    default_text: str | None = None
    choices: tuple[str, ...] = ()
    metavar: str | None = None
