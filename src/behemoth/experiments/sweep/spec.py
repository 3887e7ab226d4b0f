"""A sweep spec: world x model x scenario x editor x hyperparameter grid x seeds, as YAML.

A spec names each axis value with a label (the label is what tables and plots show)::

    name: rank-sweep
    worlds:    {independent: {preset: demo}, correlated: {preset: correlated}}
    models:    {demo: {preset: demo, replicates: 5}}   # 5 trained models of one recipe
    scenarios: {single: {name: single}, 10 different: {name: k-different, settings: {k: 10}}}
    editors:
      lora: {name: lora, settings: {targets: [mlp_out]}, grid: {rank: [1, 4, 16]}}
      rome: {name: rome}
    seeds: [0, 1]
    eval_every: 0                       # with streams: also evaluate after every N batches
    oracle: false                       # forget scenarios: also judge runs against the retain oracle
    scales: {paper: {models: {demo: {preset: pythia-31m}}}}   # deep-merged by --scale paper

:func:`expand` validates every part (world, model, scenario and editor settings, each against
its own config class, editor names against the registry) before anything runs, and returns one
:class:`RunSpec` per combination: a resolved config and a run id derived from it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from behemoth.config import StrictConfig, deep_merge, load_yaml, located, validate
from behemoth.errors import ConfigError, suggest


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
        description="Forget scenarios: also judge each run against the retain oracle (a model "
        "trained without the forget set, built once per forget set under the shared directory).",
    )
    scales: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Named overrides of this spec (--scale NAME)."
    )

    @field_validator("worlds", "models", "scenarios", "editors", "seeds")
    @classmethod
    def _nonempty(cls, v: Any) -> Any:
        if not v:
            raise ValueError("must have at least one entry")
        return v

    @model_validator(mode="after")
    def _restrictions_exist(self) -> SweepSpec:
        for label, e in self.editors.items():
            for axis, known in (("scenarios", self.scenarios), ("worlds", self.worlds)):
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
    """One run of a sweep: its id, the labels of its axis values and its resolved config."""

    run_id: str
    labels: dict[str, str]  # world, model, replicate, scenario, editor (with grid values), seed
    config: dict[str, Any]


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def config_hash(data: Any, n: int = 12) -> str:
    """A short stable hash of a JSON-able value (the identity of a config)."""
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
    """Every run of ``spec``, validated: world x model x scenario x editor grid x seed."""
    from behemoth.editors import editor_config
    from behemoth.model.config import RunConfig
    from behemoth.model.presets import model_preset
    from behemoth.scenarios.scenario import get_scenario
    from behemoth.world import WorldConfig, world_preset

    worlds = {
        k: validate(WorldConfig, deep_merge(world_preset(w.preset), w.set)).to_dict()
        for k, w in spec.worlds.items()
    }
    models = {}
    for k, m in spec.models.items():
        recipe = located(
            f"models.{k}", validate, RunConfig, deep_merge(model_preset(m.preset), m.set)
        )
        for i in range(m.replicates):
            models[(k, i)] = located(f"models.{k}", recipe.replicate, i).to_dict()
    for label, s in spec.scenarios.items():
        located(f"scenarios.{label}", get_scenario, s.name)
    runs: list[RunSpec] = []
    for (wl, wc), ((ml, rep), mc), (sl, s), (el, e), seed in itertools.product(
        worlds.items(), models.items(), spec.scenarios.items(), spec.editors.items(), spec.seeds
    ):
        if (e.scenarios is not None and sl not in e.scenarios) or (
            e.worlds is not None and wl not in e.worlds
        ):
            continue
        scen = get_scenario(s.name)
        scfg = located(
            f"scenarios.{sl}", validate, scen.config, {**s.settings, "seed": seed}
        ).to_dict()
        for point in _grid(e):
            ecfg = located(
                f"editors.{el}",
                editor_config,
                e.name,
                {**e.settings, **point, "seed": seed},
            ).to_dict()
            config = {
                "world": wc,
                "model": mc,
                "scenario": {"name": s.name, "settings": scfg},
                "editor": {"name": e.name, "settings": ecfg},
                "eval_every": spec.eval_every,
            }
            if spec.oracle:  # only then: the run ids of sweeps without it stay as they were
                config["oracle"] = True
            labels = {
                "world": wl,
                "model": ml,
                "replicate": str(rep),
                "scenario": sl,
                "editor": _grid_label(el, point),
                "seed": str(seed),
            }
            runs.append(RunSpec(f"{e.name}-{config_hash(config)}", labels, config))
    # Two labels may name the same config (e.g. a site grid crossing a fixed setting): it is
    # one run, shown under the first label.
    unique: dict[str, RunSpec] = {}
    for r in runs:
        unique.setdefault(r.run_id, r)
    return list(unique.values())
