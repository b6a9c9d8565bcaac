"""The suite's state file, ``<suite dir>/suite.json``: the plan, each run's outcome, the Server
rates used, the tree. Written atomically after every change, so a suite stopped at any moment
(Ctrl-C, SIGTERM, a crash, a power cut) resumes from what it says (``--resume``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inferlab.core.clock import now_iso
from inferlab.core.errors import ConfigError
from inferlab.core.files import atomic_write_json
from inferlab.suite.plan import Plan

STATE_FILE = "suite.json"
SCHEMA_VERSION = 1
# a run that ended with one of these is not run again by --resume
DONE = ("ok", "invalid")
PENDING = "pending"


@dataclass
class SuiteState:
    path: Path
    plan: Plan
    args: dict[str, Any]
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    server_qps: dict[str, dict[str, Any]] = field(default_factory=dict)
    status: str = "planned"
    created_at: str = field(default_factory=now_iso)
    finished: dict[str, Any] = field(default_factory=dict)  # tree, check, summary files

    @property
    def suite_dir(self) -> Path:
        return self.path.parent

    @classmethod
    def new(cls, suite_dir: Path, plan: Plan, args: dict[str, Any]) -> SuiteState:
        path = suite_dir / STATE_FILE
        if path.exists():
            raise ConfigError(
                f"{suite_dir} holds a suite already ({STATE_FILE})",
                "continue it with --resume, or choose another --out",
            )
        state = cls(path, plan, args)
        for run in plan.runs:
            state.runs[run.key] = {"status": PENDING, "run_dir": None, "attempts": 0}
        return state

    @classmethod
    def load(cls, suite_dir: Path) -> SuiteState:
        path = suite_dir / STATE_FILE
        if not path.is_file():
            raise ConfigError(
                f"--resume: {suite_dir} holds no suite ({STATE_FILE} is missing)",
                "point --out at the suite's directory, or start one without --resume",
            )
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            version = doc.get("schema_version")
            if version != SCHEMA_VERSION:
                raise ConfigError(
                    f"{path} has schema_version {version!r}; this inferlab reads {SCHEMA_VERSION}",
                    "resume it with the inferlab that started it, or start a new suite",
                )
            state = cls(
                path,
                Plan.from_dict(doc["plan"]),
                dict(doc["args"]),
                dict(doc["runs"]),
                dict(doc.get("server_qps") or {}),
                str(doc.get("status", "planned")),
                str(doc.get("created_at", "")),
                dict(doc.get("finished") or {}),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{path} is not a readable suite state ({exc})",
                "start a new suite with another --out (the runs already made stay where they are)",
            ) from None
        for run in state.plan.runs:  # a state written by a crash mid-save: every key present
            state.runs.setdefault(run.key, {"status": PENDING, "run_dir": None, "attempts": 0})
        return state

    def save(self) -> None:
        atomic_write_json(
            self.path,
            {
                "schema_version": SCHEMA_VERSION,
                "status": self.status,
                "created_at": self.created_at,
                "updated_at": now_iso(),
                "args": self.args,
                "plan": self.plan.as_dict(),
                "server_qps": self.server_qps,
                "runs": self.runs,
                "finished": self.finished,
            },
        )

    def mark(self, key: str, status: str, **facts: Any) -> None:
        rec = self.runs[key]
        rec.update(status=status, **facts)
        if status == "running":
            rec["attempts"] = int(rec.get("attempts", 0)) + 1
            rec["started_at"] = now_iso()
            for stale in ("error", "finished_at", "run_dir"):
                rec.pop(stale, None)
        else:
            rec["finished_at"] = now_iso()
        self.save()

    def done(self, key: str) -> bool:
        return self.runs.get(key, {}).get("status") in DONE

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for rec in self.runs.values():
            out[str(rec.get("status"))] = out.get(str(rec.get("status")), 0) + 1
        return out
