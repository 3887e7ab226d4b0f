"""Issue 22: a sweep expands into ``ExperimentConfig``s; a run's id is theirs, whoever runs it.

- the sweep's run ids are ``"<editor>-" + ExperimentConfig.run_id()`` of the expanded configs,
  and the config a run function receives reads back to the same experiment (same id);
- recipes (world preset + overrides, model preset + overrides + replicate) enter the id as the
  config they resolve to: two spellings of one run share an id; the cache / shared directory
  never enters it;
- ids of plain ``behemoth edit`` configs (directories) are the ones main gave before recipes;
- a sweep folder written by the earlier version (other ids for the same spec) is refused with
  one line, before anything runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from behemoth.config import validate
from behemoth.errors import ConfigError, OutputExistsError
from behemoth.experiments.config import ExperimentConfig, ModelRecipe, WorldRecipe
from behemoth.experiments.sweep.spec import SweepSpec, expand, experiment_of
from tests.experiments.sweep.conftest import TOY_FN, toy_spec_dict


def test_sweep_run_ids_are_the_experiments_run_ids() -> None:
    runs = expand(validate(SweepSpec, toy_spec_dict()))
    assert len(runs) == 16
    for r in runs:
        e = r.experiment
        assert isinstance(e, ExperimentConfig)
        assert r.run_id == f"{e.editor}-{e.run_id()}"
        # what the run function receives is the same experiment, wherever the shared dir is
        assert experiment_of(r.config).run_id() == e.run_id()
        assert experiment_of(r.config, cache="/a").run_id() == e.run_id()
        assert experiment_of(r.config, cache="/b/c").run_id() == e.run_id()
        assert e.editor_settings["seed"] == e.scenario_settings["seed"] == int(r.labels["seed"])
    assert len({r.run_id for r in runs}) == len(runs)


def test_the_oracle_of_the_spec_is_the_experiments() -> None:
    spec = toy_spec_dict(
        scenarios={"forget": {"name": "forget-relation"}},
        editors={"ga": {"name": "ga"}},
        seeds=[0],
        oracle=True,
    )
    (run,) = expand(validate(SweepSpec, spec))
    assert run.experiment.oracle is True and experiment_of(run.config).oracle is True
    (plain,) = expand(validate(SweepSpec, {**spec, "oracle": False}))
    assert plain.experiment.oracle is False and plain.run_id != run.run_id


def _recipe_cfg(world: dict[str, Any], model: dict[str, Any], **kw: Any) -> ExperimentConfig:
    return validate(
        ExperimentConfig,
        {"world": world, "model": model, "scenario": "single", "editor": "rome", **kw},
    )


def test_two_spellings_of_one_run_share_an_id() -> None:
    from behemoth.model.config import RunConfig
    from behemoth.model.presets import model_preset

    a = _recipe_cfg({"preset": "tiny"}, {"preset": "tiny"})
    # the world written out in full, the model preset's own value given as an override
    full_world = {"set": WorldRecipe(preset="tiny").resolved()}
    seed = validate(RunConfig, model_preset("tiny")).seed
    b = _recipe_cfg(full_world, {"preset": "tiny", "set": {"seed": seed}})
    assert a.run_id() == b.run_id()
    # replicate 1 of the recipe is the recipe with its seeds shifted: one model, one id
    r1 = _recipe_cfg({"preset": "tiny"}, {"preset": "tiny", "replicate": 1})
    shifted = RunConfig.from_dict(ModelRecipe(preset="tiny").resolved()).replicate(1).to_dict()
    assert r1.run_id() == _recipe_cfg({"preset": "tiny"}, {"set": shifted}).run_id()
    assert r1.run_id() != a.run_id()
    # the cache is machine-local: never in the id, never in the resolved config's hash input
    assert a.with_settings(cache="/somewhere/else").run_id() == a.run_id()
    assert "somewhere" not in json.dumps(a.with_settings(cache="/somewhere").resolved()["world"])


def test_plain_edit_ids_are_unchanged() -> None:
    """The ids main gave these directory configs before recipes existed (computed at d79a89d)."""
    cases = [
        ({"model": "/m", "scenario": "single", "editor": "rome"}, "9196d8fca4d9"),
        (
            {
                "model": "runs/m",
                "world": "worlds/w",
                "scenario": "k-different",
                "scenario_settings": {"k": 3},
                "editor": "lora",
                "editor_settings": {"rank": 4},
                "seeds": [0, 1],
            },
            "6a66831cfdd4",
        ),
        (
            {
                "model": "/m",
                "scenario": "stream",
                "scenario_settings": {"n": 5},
                "editor": "memit",
                "eval_every": 2,
                "replicates": 3,
                "cache": "/c",
            },
            "660fcf6b6a84",
        ),
        (
            {
                "model": "/m",
                "scenario": "forget-relation",
                "editor": "npo",
                "oracle": True,
                "oracle_replicates": 3,
            },
            "e24bd52d3dab",
        ),
    ]
    for data, rid in cases:
        cfg = validate(ExperimentConfig, data)
        assert isinstance(cfg.model, str) and cfg.run_id() == rid


def test_recipes_are_checked_before_anything_loads() -> None:
    with pytest.raises(ConfigError, match=r"^world: a model recipe needs the world"):
        validate(
            ExperimentConfig, {"model": {"preset": "tiny"}, "scenario": "single", "editor": "rome"}
        )
    with pytest.raises(ConfigError, match=r"^model\..*no model preset named 'tinyy'"):
        _recipe_cfg({"preset": "tiny"}, {"preset": "tinyy"})
    with pytest.raises(ConfigError, match=r"^world\.subjects"):
        _recipe_cfg({"preset": "tiny", "set": {"subjects": -1}}, {"preset": "tiny"})
    with pytest.raises(ConfigError, match=r"^model\.replicate: input should be greater"):
        _recipe_cfg({"preset": "tiny"}, {"preset": "tiny", "replicate": -1})
    with pytest.raises(ConfigError, match=r"^world\.replicate: unknown key"):
        _recipe_cfg({"preset": "tiny", "replicate": 1}, {"preset": "tiny"})


# old ids the earlier version gave the toy spec's runs (spec.config_hash of its own dict)
_OLD_IDS = ["lora-58ebb640c241", "lora-ccbeca9ebc33", "lora-992c7ae4f2dc", "lora-13b04830ffc2"]


def test_a_sweep_of_the_earlier_version_is_refused(tmp_path: Path) -> None:
    from behemoth.experiments.sweep.runner import run_sweep

    spec = validate(SweepSpec, toy_spec_dict())
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "sweep.json").write_text(json.dumps({"spec": spec.to_dict(), "runs": _OLD_IDS}))
    with pytest.raises(OutputExistsError) as e:
        run_sweep(spec, out, run_fn=TOY_FN, progress=False)
    msg = str(e.value)
    assert msg.startswith("--out: ") and "\n" not in msg
    assert "earlier version" in msg and "new --out" in msg
    assert not (out / "runs").exists()  # nothing ran
    assert json.loads((out / "sweep.json").read_text())["runs"] == _OLD_IDS  # nothing rewritten


def test_a_sweep_of_this_version_resumes(tmp_path: Path) -> None:
    from behemoth.experiments.sweep.backends import LocalBackend
    from behemoth.experiments.sweep.runner import run_sweep

    spec = validate(SweepSpec, toy_spec_dict(seeds=[0]))
    out = tmp_path / "sweep"
    first = run_sweep(spec, out, run_fn=TOY_FN, backend=LocalBackend(0), progress=False)
    assert first.done == 8 and first.skipped == 0
    ids = json.loads((out / "sweep.json").read_text())["runs"]
    assert sorted(ids) == sorted(p.name for p in (out / "runs").iterdir())
    again = run_sweep(spec, out, run_fn=TOY_FN, backend=LocalBackend(0), progress=False)
    assert again.done == 0 and again.skipped == 8
