from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# The toy benchmark (tests/toy) is registered the way a plugin package registers one: an entry
# point in a dist-info directory on the path. The worker processes of the runs get the same path.
ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "tests" / "plugins"
for entry in (str(PLUGINS), str(ROOT)):
    if entry not in sys.path:
        sys.path.insert(0, entry)
_paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([str(PLUGINS), str(ROOT), *_paths]))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)
