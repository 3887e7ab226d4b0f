"""ExperimentConfig: validated whole before anything loads, with a stable run id."""

from __future__ import annotations

import pytest

from behemoth.errors import ConfigError
from behemoth.experiments.config import ExperimentConfig


def _cfg(**kw: object) -> ExperimentConfig:
    base: dict[str, object] = {"model": "m", "scenario": "stream", "editor": "rome"}
    base.update(kw)
    return ExperimentConfig.from_dict(base)


def test_run_id_is_stable_and_follows_the_resolved_config() -> None:
    a = _cfg()
    # spelling a default out gives the same run; changing a setting gives another
    assert a.run_id() == _cfg(scenario_settings={"n": 100}).run_id()
    assert a.run_id() == _cfg(device="cuda").run_id()  # the device changes no result
    assert a.run_id() != _cfg(scenario_settings={"n": 50}).run_id()
    assert a.run_id() != _cfg(seeds=[0, 1]).run_id()
    assert len(a.run_id()) == 12


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"editor": "romee"}, "did you mean 'rome'"),
        ({"scenario": "streem"}, "did you mean 'stream'"),
        ({"editor_settings": {"layerz": 1}}, "editor.layerz"),
        ({"scenario_settings": {"n": 0}}, "scenario.n"),
        ({"seeds": [1, 1]}, "seeds"),
        ({"seeds": []}, "seeds"),
        ({"eval_every": -1}, "eval_every"),
        ({"collapse_fraction": 1.5}, "collapse_fraction"),
        ({"device": "gpu0"}, "device"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(kw: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        _cfg(**kw)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_seeds_set_both_the_scenario_and_the_editor() -> None:
    c = _cfg(seeds=[3, 4], editor_settings={"seed": 9}, scenario_settings={"seed": 9})
    assert c.run_seeds() == [3, 4]
    assert c.editor_config(3).seed == 3 and c.scenario_config(4).seed == 4
    assert _cfg().run_seeds() == [None] and c.editor_config(None).seed == 9
