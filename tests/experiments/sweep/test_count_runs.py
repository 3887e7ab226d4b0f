"""count_runs (the bound check, nothing built) agrees with expand when editors are restricted
to some models (it counted every model's replicates for every editor)."""

from __future__ import annotations

from behemoth.experiments.sweep import expand
from behemoth.experiments.sweep.runner import count_runs
from behemoth.experiments.sweep.spec import SweepSpec


def test_count_runs_follows_the_models_restriction() -> None:
    spec = SweepSpec.model_validate(
        {
            "worlds": {"w": {"preset": "tiny"}},
            "models": {
                "small": {"preset": "tiny", "replicates": 2},
                "big": {"preset": "tiny", "set": {"model": {"width": 128}}, "replicates": 3},
            },
            "scenarios": {"single": {"name": "single"}},
            "editors": {
                "lora small": {"name": "lora", "grid": {"rank": [1, 64]}, "models": ["small"]},
                "lora big": {"name": "lora", "grid": {"rank": [1, 128]}, "models": ["big"]},
                "ft": {"name": "ft"},
            },
        }
    )
    assert count_runs(spec) == len(expand(spec)) == 2 * 2 + 3 * 2 + 5
