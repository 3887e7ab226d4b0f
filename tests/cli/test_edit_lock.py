"""Issue 24: ``behemoth edit`` takes the lock of --out before computing anything, so a second
edit into the same place is refused at once (not after computing the whole edit)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from behemoth.cli.main import main
from behemoth.errors import OutputExistsError


def test_edit_holds_its_lock_while_computing(
    quick_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import behemoth.experiments.run as run_mod
    from behemoth.io import lock_owner, lock_path

    out = tmp_path / "e"
    seen: list[int | None] = []

    def fake_run(config: object, where: object, **kw: object) -> object:
        seen.append(lock_owner(lock_path(out).read_text()) if lock_path(out).exists() else None)
        raise OutputExistsError("stop here")

    monkeypatch.setattr(run_mod, "run_experiment", fake_run)
    argv = ["edit", str(quick_model), "--scenario", "single", "--editor", "rome", "--out", str(out)]
    assert main(argv) == 2
    assert seen == [os.getpid()]  # held from before the computing starts
    assert not lock_path(out).exists()
