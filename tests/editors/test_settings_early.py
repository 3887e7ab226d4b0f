"""Issue 22, settings fail early: every cross-field rule that needs no model is checked when the
run's ``ExperimentConfig`` is validated, and a scenario setting the world refuses fails before
the model is loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from behemoth.config import validate
from behemoth.errors import ConfigError
from behemoth.experiments.config import ExperimentConfig
from behemoth.world import World

RULES = [
    ("ft", {"part": "all", "layers": [1]}, "editor.layers", "part=all"),
    ("lora", {"targets": []}, "editor.targets", "is empty"),
    ("memit", {"layers": []}, "editor.layers", "is empty"),
    ("alphaedit", {"layers": []}, "editor.layers", "is empty"),
    ("rome", {"n_prefixes": 3, "prefix_lengths": []}, "editor.prefix_lengths", "positive"),
    ("memit", {"prefix_lengths": [0, 5]}, "editor.prefix_lengths", "positive"),
]


@pytest.mark.parametrize(("editor", "settings", "field", "says"), RULES)
def test_cross_field_rule_fails_at_experiment_validation(
    editor: str, settings: dict[str, Any], field: str, says: str, tmp_path: Path
) -> None:
    """No model, no world: the paths need not even exist for the settings to be judged."""
    data = {
        "model": str(tmp_path / "no-model"),
        "scenario": "single",
        "editor": editor,
        "editor_settings": settings,
    }
    with pytest.raises(ConfigError) as err:
        validate(ExperimentConfig, data)
    assert err.value.field == field and says in str(err.value)
    assert len(str(err.value).splitlines()) == 1


def test_valid_neighbours_pass(tmp_path: Path) -> None:
    for editor, settings in [
        ("ft", {"part": "all"}),
        ("ft", {"part": "mlp", "layers": [1]}),
        ("rome", {"n_prefixes": 0, "prefix_lengths": []}),
    ]:
        validate(
            ExperimentConfig,
            {
                "model": str(tmp_path),
                "scenario": "single",
                "editor": editor,
                "editor_settings": settings,
            },
        )


def test_bad_subject_fails_before_the_model_loads(
    tiny_model: Path, tiny_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import behemoth.experiments.load as load
    from behemoth.experiments.run import run_experiment

    def no_load(*_a: object) -> None:
        raise AssertionError("the model was loaded before the scenario was checked")

    monkeypatch.setattr(load, "load_run_model", no_load)
    monkeypatch.setattr("behemoth.experiments.run.load_run_model", no_load)
    cfg = validate(
        ExperimentConfig,
        {
            "model": str(tiny_model),
            "scenario": "single",
            "scenario_settings": {"subject": 10**6},
            "editor": "ft",
        },
    )
    with pytest.raises(ConfigError, match="does not exist"):
        run_experiment(cfg, None)
