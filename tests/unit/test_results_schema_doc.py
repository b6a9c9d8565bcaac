"""docs/results-schema.md against the models: every field of RunResult and of its typed sections
is documented, and every documented top-level key is a field."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from inferlab.results.models import SCHEMA_VERSION, SECTION_MODELS, RunResult

DOC = Path(__file__).resolve().parents[2] / "docs" / "results-schema.md"


def _rows() -> dict[str, str]:
    """Top-level key -> its row's description, from the doc's key table."""
    rows: dict[str, str] = {}
    for line in DOC.read_text().splitlines():
        m = re.match(r"^\| (`[^|]+`) \| (.*) \|$", line)
        if m is None:
            continue
        for key in re.findall(r"`([^`]+)`", m.group(1)):
            rows[key] = m.group(2)
    return rows


def _nested(model: type[BaseModel]) -> list[type[BaseModel]]:
    """The model and the typed models inside its fields (lists, dicts and optionals too)."""
    out = [model]
    for info in model.model_fields.values():
        stack = [info.annotation]
        while stack:
            tp = stack.pop()
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                if tp not in out:
                    out += _nested(tp)
            else:
                stack += list(typing.get_args(tp))
    return out


def test_every_top_level_key_is_documented_and_a_field() -> None:
    rows = _rows()
    fields = set(RunResult.model_fields)
    assert sorted(fields - set(rows)) == [], "fields missing from docs/results-schema.md"
    assert sorted(set(rows) - fields) == [], "documented keys that RunResult does not have"


def test_every_field_of_the_typed_sections_is_documented() -> None:
    rows = _rows()
    missing = []
    for section, model in SECTION_MODELS.items():
        assert RunResult.model_fields[section] is not None
        text = rows[section]
        for m in _nested(model):
            missing += [f"{section}.{f}" for f in m.model_fields if f"`{f}`" not in text]
    assert missing == []


def test_doc_names_the_schema_version_and_the_v1_reading() -> None:
    text = DOC.read_text()
    assert text.startswith(f"# result.json (schema_version {SCHEMA_VERSION})")
    assert "schema_version 1" in text and "results/load.py" in text
