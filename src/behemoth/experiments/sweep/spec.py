"""A sweep spec: world x model x scenario x editor x hyperparameter grid x seeds, as YAML.

A spec names each axis value with a label (the label is what tables and plots show)::

    name: rank-sweep
    worlds:    {independent: {preset: demo}, correlated: {preset: correlated}}
    models:    {demo: {preset: demo, replicates: 5}}   # 5 trained models of one recipe
    scenarios: {single: {name: single}, 10 different: {name: k-different, settings: {k: 10}}}
    editors:
      lora: {name: lora, settings: {targets: [mlp_out]}, grid: {rank: [1, 4, 16]}}
      rome: {name: rome, scenarios: [single], worlds: [independent], models: [demo]}
    seeds: [0, 1]
    eval_every: 0                       # with streams: also evaluate after every N batches
    oracle: false                       # forget scenarios: also judge runs against the oracle
    relearn: false                      # forget scenarios: also the relearning attack (true, or
                                        #   {share: 0.1, steps: 50, lr: 0.001, threshold: 0.5})
    scales: {paper: {models: {demo: {preset: pythia-31m}}}}   # deep-merged by --scale paper

:func:`expand` validates every part (world, model, scenario and editor settings, each against
its own config class, editor names against the registry) before anything runs, and returns one
:class:`RunSpec` per combination: an :class:`~behemoth.experiments.config.ExperimentConfig`
(world and model as recipes, :class:`~behemoth.experiments.config.WorldRecipe` /
:class:`~behemoth.experiments.config.ModelRecipe`; the seed in the scenario's and the editor's
settings; the spec's ``oracle`` and ``relearn``, on forget scenarios only) and its run id, ``"<editor>-" +``
:meth:`ExperimentConfig.run_id() <behemoth.experiments.config.ExperimentConfig.run_id>`: one
description of a run and one id, whether a sweep or ``behemoth edit`` runs it. Machine-local
paths (the shared directory) never enter it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from behemoth.config import StrictConfig, deep_merge, load_yaml, located, validate
from behemoth.errors import ConfigError, suggest
from behemoth.evaluation.unlearning.relearn import RelearnConfig, relearn_setting
from behemoth.experiments.config import ExperimentConfig, ModelRecipe, WorldRecipe


class PresetRef(StrictConfig):
    """A world or model: a named preset plus overrides (``set``)."""

    preset: str = Field(description="Name of a shipped preset.")
    set: dict[str, Any] = Field(default_factory=dict, description="Overrides of its settings.")


class ModelRef(PresetRef):
    """A model recipe and how many trained replicates of it the sweep runs on.

    Replicate ``i`` is :meth:`behemoth.model.config.RunConfig.replicate` of the recipe: its own
    seed for the weight initialization and for the data order (replicate 0 is the recipe as
    written). Each is trained once, as a shared artifact, and every row names it (column
    ``replicate``): the trained model is the unit of replication of every finding.
    """

    replicates: int = Field(
        1,
        ge=1,
        le=100,
        description="Trained models of this recipe (different init and data order).",
    )


class ScenarioRef(StrictConfig):
    """A registered scenario and its settings (the seed comes from the sweep's seeds)."""

    name: str = Field(description="Registered scenario name.")
    settings: dict[str, Any] = Field(default_factory=dict, description="Scenario settings.")


class EditorRef(StrictConfig):
    """A registered editor, its fixed settings and a grid (every combination is run)."""

    name: str = Field(description="Registered editor name.")
    settings: dict[str, Any] = Field(default_factory=dict, description="Fixed settings.")
    grid: dict[str, list[Any]] = Field(
        default_factory=dict, description="Setting -> values; the product of all is swept."
    )
    scenarios: list[str] | None = Field(
        None, description="Only these scenario labels (null = every scenario of the sweep)."
    )
    worlds: list[str] | None = Field(
        None, description="Only these world labels (null = every world of the sweep)."
    )
    models: list[str] | None = Field(
        None,
        description="Only these model labels (null = every model of the sweep), e.g. a LoRA "
        "rank grid bounded by one model's width.",
    )

    @field_validator("grid")
    @classmethod
    def _grid_nonempty(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for k, vals in v.items():
            if not vals:
                raise ConfigError(f"grid.{k}", "has no values", "list at least one value")
        return v


class SweepSpec(StrictConfig):
    """The whole sweep; every axis must have at least one entry."""

    name: str = Field("sweep", description="Name of the sweep (shown in the report).")
    worlds: dict[str, PresetRef] = Field(description="Label -> world preset and overrides.")
    models: dict[str, ModelRef] = Field(
        description="Label -> model preset, overrides and number of trained replicates."
    )
    scenarios: dict[str, ScenarioRef] = Field(description="Label -> scenario and settings.")
    editors: dict[str, EditorRef] = Field(description="Label -> editor, settings and grid.")
    seeds: list[int] = Field(default_factory=lambda: [0], description="Scenario/editor seeds.")
    eval_every: int = Field(0, ge=0, description="Streams: evaluate after every N batches.")
    oracle: bool = Field(
        False,
        description="Forget scenarios: also judge each of their runs against the retain oracle (a model "
        "trained without the forget set, built once per forget set under the shared directory).",
    )
    relearn: RelearnConfig | None = Field(
        None,
        description="Forget scenarios: also attack each run's unlearned model (and, with oracle, "
        "its retain oracles) by relearning: true for the defaults, or {share, steps, lr, "
        "threshold}; null/false: off.",
    )
    scales: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Named overrides of this spec (--scale NAME)."
    )

    @field_validator("relearn", mode="before")
    @classmethod
    def _relearn(cls, v: Any) -> Any:
        return relearn_setting(v)

    @field_validator("worlds", "models", "scenarios", "editors", "seeds")
    @classmethod
    def _nonempty(cls, v: Any) -> Any:
        if not v:
            raise ValueError("must have at least one entry")
        return v

    @model_validator(mode="after")
    def _restrictions_exist(self) -> SweepSpec:
        for label, e in self.editors.items():
            for axis, known in (
                ("scenarios", self.scenarios),
                ("worlds", self.worlds),
                ("models", self.models),
            ):
                for name in getattr(e, axis) or []:
                    if name not in known:
                        raise ConfigError(
                            f"editors.{label}.{axis}",
                            f"no {axis[:-1]} labelled {name!r}",
                            suggest(name, known),
                        )
        return self


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: its id, the labels of its axis values and its experiment."""

    run_id: str
    labels: dict[str, str]  # world, model, replicate, scenario, editor (with grid values), seed
    experiment: ExperimentConfig

    @cached_property
    def config(self) -> dict[str, Any]:
        """The run as the sweep's table (column ``config``), ``run.json`` and the run function
        see it (:func:`run_config` of :attr:`experiment`; :func:`experiment_of` reads it back)."""
        return run_config(self.experiment)


def run_id(experiment: ExperimentConfig) -> str:
    """A sweep run's id: ``"<editor>-"`` + :meth:`ExperimentConfig.run_id()
    <behemoth.experiments.config.ExperimentConfig.run_id>` (the prefix for readable folders)."""
    return f"{experiment.editor}-{experiment.run_id()}"


def run_config(experiment: ExperimentConfig) -> dict[str, Any]:
    """A sweep run's experiment resolved, in the layout of the sweep's tables: ``world`` and
    ``model`` as the configs their recipes resolve to (the model's replicate seeds folded in),
    ``scenario`` and ``editor`` as ``{name, settings}`` with every default filled in,
    ``eval_every``, and ``oracle`` and ``relearn`` only when set (the report reads editor
    settings from it)."""
    if not isinstance(experiment.world, WorldRecipe) or not isinstance(
        experiment.model, ModelRecipe
    ):
        raise ConfigError("model", "a sweep run names its world and model by recipe", "use expand")
    config: dict[str, Any] = {
        "world": experiment.world.resolved(),
        "model": experiment.model.resolved(),
        "scenario": {
            "name": experiment.scenario,
            "settings": experiment.scenario_config(None).to_dict(),
        },
        "editor": {"name": experiment.editor, "settings": experiment.editor_config(None).to_dict()},
        "eval_every": experiment.eval_every,
    }
    if experiment.oracle:
        config["oracle"] = True
    if experiment.relearn is not None:
        config["relearn"] = experiment.relearn.to_dict()
    return config


def experiment_of(config: dict[str, Any], cache: str | Path | None = None) -> ExperimentConfig:
    """The :class:`~behemoth.experiments.config.ExperimentConfig` of a run's :func:`run_config`
    (what a run function receives), with ``cache`` (a sweep's shared directory) as its cache: the
    same run id as the experiment it was written from."""
    from behemoth.config import validate

    return validate(
        ExperimentConfig,
        {
            "world": {"set": config["world"]},
            "model": {"set": config["model"]},
            "scenario": config["scenario"]["name"],
            "scenario_settings": config["scenario"]["settings"],
            "editor": config["editor"]["name"],
            "editor_settings": config["editor"]["settings"],
            "eval_every": config.get("eval_every", 0),
            "oracle": bool(config.get("oracle", False)),
            "relearn": config.get("relearn"),
            "cache": None if cache is None else str(cache),
        },
    )


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def config_hash(data: Any, n: int = 12) -> str:
    """A short stable hash of a JSON-able value: the key of a shared artifact (a world, a model,
    an oracle) under a sweep's shared directory or a run's cache. A run's id is
    :meth:`ExperimentConfig.run_id() <behemoth.experiments.config.ExperimentConfig.run_id>`."""
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()[:n]


def load_spec(path: str | Path, scale: str | None = None) -> SweepSpec:
    """Read a spec (a file, or the name of a shipped preset) and apply the named scale."""
    p = Path(path)
    if p.is_file():
        data = load_yaml(p)
    else:
        from behemoth.presets import load_preset, preset_names

        if str(path).endswith((".yaml", ".yml")) or "/" in str(path):
            raise ConfigError(
                "SPEC",
                f"file {str(path)!r} does not exist",
                f"give a YAML file or a preset ({', '.join(preset_names('sweep'))})",
            )
        data = load_preset("sweep", str(path))
    spec = validate(SweepSpec, data)
    if scale is not None:
        if scale not in spec.scales:
            raise ConfigError(
                "--scale", f"the spec has no scale {scale!r}", suggest(scale, spec.scales or ["-"])
            )
        merged = deep_merge(spec.to_dict(), spec.scales[scale])
        merged["scales"] = {}
        spec = validate(SweepSpec, merged)
    return spec


def _grid(ref: EditorRef) -> list[dict[str, Any]]:
    keys = sorted(ref.grid)
    return [dict(zip(keys, vals)) for vals in itertools.product(*(ref.grid[k] for k in keys))]


def _grid_label(label: str, point: dict[str, Any]) -> str:
    if not point:
        return label
    return label + " " + " ".join(f"{k}={canonical_json(v)}" for k, v in point.items())


def expand(spec: SweepSpec) -> list[RunSpec]:
    """Every run of ``spec``, validated: world x model replicate x scenario x editor grid x seed,
    each an :class:`~behemoth.experiments.config.ExperimentConfig` with its run id."""
    from behemoth.editors import editor_config
    from behemoth.scenarios.scenario import get_scenario

    # each part checked where the spec holds it (errors name ``worlds.<label>`` and so on)
    worlds = {k: WorldRecipe(preset=w.preset, set=w.set) for k, w in spec.worlds.items()}
    for k, w in worlds.items():
        located(f"worlds.{k}", w.resolved)
    models: dict[tuple[str, int], ModelRecipe] = {}
    for k, m in spec.models.items():
        for i in range(m.replicates):
            models[(k, i)] = ModelRecipe(preset=m.preset, set=m.set, replicate=i)
            located(f"models.{k}", models[(k, i)].resolved)
    for label, s in spec.scenarios.items():
        located(f"scenarios.{label}", get_scenario, s.name)
    runs: list[RunSpec] = []
    for (wl, wr), ((ml, rep), mr), (sl, s), (el, e), seed in itertools.product(
        worlds.items(), models.items(), spec.scenarios.items(), spec.editors.items(), spec.seeds
    ):
        if (
            (e.scenarios is not None and sl not in e.scenarios)
            or (e.worlds is not None and wl not in e.worlds)
            or (e.models is not None and ml not in e.models)
        ):
            continue
        forgets = get_scenario(s.name).config.forgets is not False
        scenario_settings = {**s.settings, "seed": seed}
        located(f"scenarios.{sl}", validate, get_scenario(s.name).config, scenario_settings)
        for point in _grid(e):
            editor_settings = {**e.settings, **point, "seed": seed}
            located(f"editors.{el}", editor_config, e.name, editor_settings)
            experiment = validate(
                ExperimentConfig,
                {
                    "world": wr.to_dict(),
                    "model": mr.to_dict(),
                    "scenario": s.name,
                    "scenario_settings": scenario_settings,
                    "editor": e.name,
                    "editor_settings": editor_settings,
                    "eval_every": spec.eval_every,
                    # the oracle and relearning judge forgetting only: edit runs go without
                    "oracle": spec.oracle and forgets,
                    "relearn": spec.relearn if forgets else None,
                },
            )
            labels = {
                "world": wl,
                "model": ml,
                "replicate": str(rep),
                "scenario": sl,
                "editor": _grid_label(el, point),
                "seed": str(seed),
            }
            runs.append(RunSpec(run_id(experiment), labels, experiment))
    # Two labels may name the same config (e.g. a site grid crossing a fixed setting): it is
    # one run, shown under the first label.
    unique: dict[str, RunSpec] = {}
    for r in runs:
        unique.setdefault(r.run_id, r)
    return list(unique.values())
