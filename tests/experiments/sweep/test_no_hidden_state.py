"""Issue 22: a sweep run passes its cache in the run's config, never through ``os.environ``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from behemoth.config import validate
from behemoth.experiments.sweep.spec import SweepSpec, expand
from behemoth.world import World
from tests.experiments.sweep.conftest import toy_spec_dict


def _run(editors: dict[str, object], scenarios: dict[str, object]) -> object:
    spec = validate(SweepSpec, toy_spec_dict(scenarios=scenarios, editors=editors, seeds=[0]))
    (run,) = expand(spec)
    return run


def _shared(run: object, tiny_model: Path, tmp_path: Path) -> Path:
    """The shared directory with the session's tiny model standing in for the sweep's."""
    from behemoth.experiments.sweep.execute import shared_model, shared_world

    shared = tmp_path / "shared"
    world = shared_world(shared, run.config["world"])  # type: ignore[attr-defined]
    model_dir = shared_model(shared, world, run.config["model"], build=False)  # type: ignore[attr-defined]
    shutil.copytree(tiny_model, model_dir)
    return shared


class _Watched(dict[str, str]):
    """``os.environ`` stand-in that records every write."""

    writes: list[str] = []

    def __setitem__(self, key: str, value: str) -> None:
        self.writes.append(key)
        super().__setitem__(key, value)


def test_sweep_run_leaves_the_environment_alone(
    tiny_world: World, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from behemoth.experiments.sweep.execute import execute

    monkeypatch.delenv("BEHEMOTH_CACHE", raising=False)
    run = _run(
        {"rome": {"name": "rome", "settings": {"layer": 2, "mom2_n_tokens": 2000, "v_steps": 5}}},
        {"single": {"name": "single"}},
    )
    shared = _shared(run, tiny_model, tmp_path)
    watched = _Watched(os.environ)
    monkeypatch.setattr(os, "environ", watched)
    out = execute(run.config, run.run_id, shared)  # type: ignore[attr-defined]
    assert "BEHEMOTH_CACHE" not in watched.writes and "BEHEMOTH_CACHE" not in watched
    assert list((shared / "stats").glob("*.pt"))  # the statistics went to the cache
    assert any(r["metric"] == "update_fro" and r["value"] > 0 for r in out.rows)


def test_wrapper_stream_through_the_sweep(
    tiny_world: World, tiny_model: Path, tmp_path: Path
) -> None:
    """A multi-batch wrapper run: its update size is the result's own (no weight changed), not
    a weight diff of the wrapper (which ``exact_deltas`` refuses)."""
    import math

    from behemoth.experiments.sweep.execute import execute

    run = _run(
        {"grace": {"name": "grace", "settings": {"steps": 5}}},
        {"stream": {"name": "stream", "settings": {"n": 3}}},
    )
    shared = _shared(run, tiny_model, tmp_path)
    out = execute(run.config, run.run_id, shared)  # type: ignore[attr-defined]
    got = {r["metric"]: r for r in out.rows if r["group"] == "cost" or "update" in r["metric"]}
    assert got["update_fro"]["value"] == 0.0 and got["update_rank"]["value"] == 0.0
    batch = [r for r in out.rows if r["metric"] == "batch_update_fro"]
    assert len(batch) == 3 and all(math.isnan(r["value"]) for r in batch)
