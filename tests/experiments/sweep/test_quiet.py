"""Sweep runs draw no progress bars of their own: the sweep's live summary owns the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from behemoth.experiments.sweep.backends import run_task
from behemoth.experiments.sweep.execute import RunOutput
from behemoth.progress import bars_enabled, quiet_bars


def seen(config: dict[str, Any], run_id: str, shared: Path) -> RunOutput:
    """A run that records whether bars were enabled while it ran."""
    return RunOutput([{"bars": bars_enabled()}], {})


def test_run_task_silences_bars_and_restores_them(tmp_path: Path) -> None:
    assert bars_enabled()
    res = run_task(f"{__name__}:seen", {}, "r0", str(tmp_path))
    assert res.error is None and res.rows == [{"bars": False}]
    assert bars_enabled()  # in-process backends (workers=0) get their bars back after a run


def test_quiet_bars_restores_after_an_error() -> None:
    try:
        with quiet_bars():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert bars_enabled()
