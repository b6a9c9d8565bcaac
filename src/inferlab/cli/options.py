"""``inferlab run``'s config options, derived from the fields of ``RunConfig`` and of the
backends' config sections that carry a :class:`~inferlab.core.option.CliOption`: the flag, its
help, the choices of a ``Literal`` and the field's default come from the field, so an option is
added in one place (the field). An option left out on the command line passes nothing, so YAML
and the config's defaults apply (defaults < env < YAML < flags < --set)."""

from __future__ import annotations

import inspect
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from inferlab.backends.registry import section_classes
from inferlab.config.run_config import RunConfig
from inferlab.config.sections import SECTION
from inferlab.core.option import CliOption


@dataclass(frozen=True)
class ConfigOption:
    """One derived option: the callback parameter ``param`` sets ``path`` in the flags layer."""

    param: str
    path: tuple[str, ...]  # ("scenario",) or ("backend_options", "mode")
    flags: tuple[str, ...]  # "--fold-bn/--no-fold-bn", "-q"
    choices: tuple[str, ...]
    default: Any  # the config's default (what --help shows)
    switch: bool | None  # a one-way switch: the value it sets; None: the option takes a value
    parameter: inspect.Parameter


def _cli_meta(field: FieldInfo) -> CliOption | None:
    return next((m for m in field.metadata if isinstance(m, CliOption)), None)


def _unwrap(annotation: Any) -> tuple[Any, tuple[str, ...]]:
    """(the option's Python type, the Literal's choices) of a field's annotation."""
    args = get_args(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        annotation = rest[0] if len(rest) == 1 else str
        args = get_args(annotation)
    if get_origin(annotation) is Literal:
        return str, tuple(str(a) for a in args)
    if annotation in (bool, int, float, str, Path):
        return annotation, ()
    return str, ()


def _option(
    name: str, field: FieldInfo, meta: CliOption, path: tuple[str, ...], panel: str | None
) -> ConfigOption:
    kind, choices = _unwrap(field.annotation)
    choices = meta.choices or choices
    flag = meta.flag or f"--{name.replace('_', '-')}"
    decls = (flag, meta.short) if meta.short else (flag,)
    default = field.get_default(call_default_factory=False)
    param = "__".join(path)
    switch: bool | None = None
    common: dict[str, Any] = {"help": meta.help, "rich_help_panel": panel}
    if kind is bool and "/" not in flag:
        switch = not bool(default)  # --quick sets True, --no-calibrate sets False
        annotation: Any = Annotated[bool, typer.Option(*decls, **common)]
        py_default: Any = False
    else:
        # The option's default is the config's, for --help; whether the user gave the option
        # is told by click's parameter source (flags_layer), so YAML still applies otherwise.
        metavar = f"[{'|'.join(choices)}]" if choices else meta.metavar
        if default is None:
            shown: bool | str = meta.default_text or False
        else:
            shown = True
        info = typer.Option(
            *decls, show_default=shown, metavar=None if kind is bool else metavar, **common
        )
        annotation = Annotated[kind | None, info]
        py_default = default
    parameter = inspect.Parameter(
        param, inspect.Parameter.KEYWORD_ONLY, default=py_default, annotation=annotation
    )
    return ConfigOption(param, path, decls, choices, default, switch, parameter)


def _fields(model: type[BaseModel]) -> list[tuple[str, FieldInfo, CliOption]]:
    return [
        (name, field, meta)
        for name, field in model.model_fields.items()
        if (meta := _cli_meta(field)) is not None
    ]


def config_options(model: type[BaseModel] = RunConfig) -> list[ConfigOption]:
    """``model``'s options (RunConfig's), then each backend section's (in a help panel of its
    own)."""
    out = [_option(n, f, m, (n,), None) for n, f, m in _fields(model)]
    for cls in section_classes():
        backend = cls.model_fields["name"].default
        for n, f, m in _fields(cls):
            out.append(_option(n, f, m, (SECTION, n), f"{backend} backend"))
    return out


def flags_layer(
    options: list[ConfigOption], values: dict[str, Any], given: set[str]
) -> dict[str, Any]:
    """The options given on the command line (``given``: their parameter names) as a config
    layer (nested for a section)."""
    layer: dict[str, Any] = {}
    for opt in options:
        if opt.param not in given:
            continue
        value = values.get(opt.param)
        if opt.switch is not None:
            value = opt.switch if value else None
        if value is None:
            continue
        node = layer
        for part in opt.path[:-1]:
            node = node.setdefault(part, {})
        node[opt.path[-1]] = value
    return layer


def given_options(ctx: Any) -> set[str]:
    """Parameter names of the command that its command line (or an environment variable) set,
    from the command's click context (``typer.Context``)."""
    given = set()
    for name in ctx.params:
        source = ctx.get_parameter_source(name)
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
            given.add(name)
    return given
