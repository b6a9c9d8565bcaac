"""The live run status: phases, loading progress, completed samples and the recent rate; the
supervisor's observer hook is installed only while enabled."""

from __future__ import annotations

from inferlab.cli.progress import RunProgress
from inferlab.results.models import Heartbeat, Phase
from inferlab.runner import supervisor


def test_status_line_follows_the_worker_messages() -> None:
    p = RunProgress(enabled=False)
    p.on_message(Phase(phase="LoadGen test"))
    p.on_message(Heartbeat(completed=0, resident=512))
    assert "preprocessing/loading: 512 samples resident" in p._render().plain
    p._points.clear()
    p._points.append((10.0, 1000))
    p._points.append((12.0, 5000))
    p.on_message(Heartbeat(completed=5000, resident=1024))
    text = p._render().plain
    assert text.startswith("LoadGen test") and "5,000 samples completed" in text
    assert "samples/s" in text


def test_observer_is_installed_only_while_live() -> None:
    with RunProgress(enabled=False):
        assert supervisor._observer is None
    with RunProgress(enabled=True) as p:
        assert supervisor._observer == p.on_message
        supervisor._notify(Phase(phase="x"))
        assert p._phase == "x"
    assert supervisor._observer is None
    supervisor.observe(lambda m: 1 / 0)  # a failing display never breaks a run
    try:
        supervisor._notify(Heartbeat())
    finally:
        supervisor.observe(None)
