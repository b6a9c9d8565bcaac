"""Run directories: exclusive mkdir, never reused."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path


def create_run_dir(root: Path, benchmark: str, scenario: str, mode: str) -> Path:
    """Create a fresh run directory with an exclusive mkdir; two runs never share one."""
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for _ in range(100):
        unique = secrets.token_hex(3)
        path = root / f"{stamp}_{benchmark}_{scenario}_{mode}_{unique}"
        try:
            path.mkdir()  # exclusive: fails if it exists
        except FileExistsError:
            continue
        return path
    raise RuntimeError(f"could not create a unique run directory under {root}")
