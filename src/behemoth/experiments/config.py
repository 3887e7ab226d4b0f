"""An experiment as data: :class:`ExperimentConfig`, validated whole before anything loads.

A config names the world and the model (each a directory, or a recipe: :class:`WorldRecipe`,
:class:`ModelRecipe`, built once under the run's cache by
:func:`behemoth.experiments.replicates.resolve_artifacts`), a registered scenario and editor
with their settings, the seeds, the evaluation schedule and the device. Validation resolves the
recipes and the editor's and the scenario's settings against their registries and config
classes, so a typo in any of them is a one-line error before a model is read.
:meth:`ExperimentConfig.run_id` hashes the *resolved* config (defaults filled in, a recipe as
the full config it resolves to), so two spellings of the same run share one id. A sweep expands
into these configs (:func:`behemoth.experiments.sweep.spec.expand`): one description of a run.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from behemoth.config import StrictConfig, deep_merge, located, validate
from behemoth.editors.base import EditorConfig
from behemoth.editors.registry import editor_class
from behemoth.errors import ConfigError
from behemoth.evaluation.unlearning.relearn import RelearnConfig, relearn_setting
from behemoth.scenarios.scenario import ScenarioConfig, get_scenario


class _Recipe(StrictConfig):
    """A shipped preset deep-merged with overrides (``set``; without a preset, ``set`` is the
    whole config)."""

    preset: str | None = Field(None, description="A shipped preset (null: set is all).")
    set: dict[str, Any] = Field(default_factory=dict, description="Overrides of its settings.")

    def resolved(self) -> dict[str, Any]:
        raise NotImplementedError

    def canonical(self) -> dict[str, Any]:
        """The one spelling of this recipe (``{"set": resolved}``): what the run id hashes."""
        return {"set": self.resolved()}


class WorldRecipe(_Recipe):
    """A world by recipe: a shipped world preset deep-merged with overrides (``set``; without a
    preset, the whole :class:`~behemoth.world.WorldConfig`). Generated once under the run's
    cache (a sweep's shared directory), keyed by the config it resolves to."""

    def resolved(self) -> dict[str, Any]:
        """The validated :class:`~behemoth.world.WorldConfig` this recipe names, as a dict."""
        return _resolve("world", self.preset, self.set, 0)


class ModelRecipe(_Recipe):
    """A model by recipe: a shipped model preset deep-merged with overrides (``set``; without a
    preset, the whole :class:`~behemoth.model.config.RunConfig`) and the index of the trained
    ``replicate`` (:meth:`RunConfig.replicate <behemoth.model.config.RunConfig.replicate>`: its
    own init and data order; 0 is the recipe as written). Trained once on the run's world under
    the run's cache (a sweep's shared directory)."""

    replicate: int = Field(
        0, ge=0, le=10_000, description="Which trained replicate (0: as written)."
    )

    def resolved(self) -> dict[str, Any]:
        """The validated :class:`~behemoth.model.config.RunConfig` of this replicate, as a dict
        (the replicate's seeds folded in, so ``replicate`` 1 of a recipe and the recipe with
        those seeds written out are one model)."""
        return _resolve("model", self.preset, self.set, self.replicate)


def _resolve(
    kind: str, preset: str | None, overrides: dict[str, Any], replicate: int
) -> dict[str, Any]:
    """A recipe's resolved config (a copy: cached per spelling, since sweeps resolve the same
    few recipes once per run)."""
    key = json.dumps([kind, preset, overrides, replicate], sort_keys=True, default=str)
    return copy.deepcopy(_resolve_cached(key))


@functools.lru_cache(maxsize=256)
def _resolve_cached(key: str) -> dict[str, Any]:
    kind, preset, overrides, replicate = json.loads(key)
    if kind == "world":
        from behemoth.world import WorldConfig, world_preset

        base = world_preset(preset) if preset is not None else {}
        return validate(WorldConfig, deep_merge(base, overrides)).to_dict()
    from behemoth.model.config import RunConfig
    from behemoth.model.presets import model_preset

    base = model_preset(preset) if preset is not None else {}
    recipe = validate(RunConfig, deep_merge(base, overrides))
    return recipe.replicate(int(replicate)).to_dict()


class ExperimentConfig(StrictConfig):
    """One experiment: a scenario applied by an editor to a model, once per replicate and seed.

    ``replicates``: run on this many trained models of the model's recipe (replicate 0 is
    ``model``; replicate i is its recipe trained again with its own init and data order,
    :mod:`behemoth.experiments.replicates`, trained once under ``cache``); every row names its
    replicate, and with several, ``edit.json["over_replicates"]`` states each number over them.
    ``cache``: where replicates (and statistics) are kept; a machine-local path, so it never
    enters the run id (null: ``$BEHEMOTH_CACHE``, else ``~/.cache/behemoth``).

    ``seeds``: the run is repeated once per seed, each seed setting both the scenario's seed
    (which edits, in which order) and the editor's; null = one run with the seeds the settings
    hold. ``eval_every``: with several batches (a stream), also evaluate after every N batches.
    ``disabling_factor`` / ``collapse_fraction``: the detection rules of
    :mod:`behemoth.experiments.sequential`.

    ``oracle``: a forget scenario's run is also judged against ``oracle_replicates`` retain
    oracles (:func:`behemoth.evaluation.unlearning.judge.judge_unlearning`, trained once under
    ``<cache>/oracles``): group ``unlearning`` rows and ``edit.json["unlearning"]``. Left at
    its default (false), neither field enters the run id.

    ``relearn``: a forget scenario's run is also attacked by relearning
    (:mod:`behemoth.evaluation.unlearning.relearn`: ``true`` for the defaults, or
    :class:`~behemoth.evaluation.unlearning.relearn.RelearnConfig`'s settings), the unlearned
    model and, with ``oracle``, the retain oracles from one seeded split: group ``relearning``
    rows and items. The sweep runs it (:func:`behemoth.experiments.sweep.execute.execute`);
    left off (null), it does not enter the run id.
    """

    model: str | ModelRecipe = Field(
        description="The model directory, or a recipe {preset, set, replicate} trained once "
        "under cache."
    )
    world: str | WorldRecipe | None = Field(
        None,
        description="The world directory, or a recipe {preset, set} generated once under cache; "
        "null = the model's own (a model recipe needs a world).",
    )
    scenario: str = Field(description="A registered scenario.")
    scenario_settings: dict[str, Any] = Field(default_factory=dict)
    editor: str = Field(description="A registered editor.")
    editor_settings: dict[str, Any] = Field(default_factory=dict)
    seeds: list[int] | None = Field(None, min_length=1, description="Seeds to repeat the run with.")
    replicates: int = Field(
        1, ge=1, le=100, description="Trained models of the recipe to run on (1: the model only)."
    )
    cache: str | None = Field(
        None, description="Where replicates are trained once (null: $BEHEMOTH_CACHE or ~/.cache)."
    )
    eval_every: int = Field(0, ge=0, description="Also evaluate after every N batches (0: end).")
    device: str = Field("cpu", description="Torch device the model is edited on.")
    disabling_factor: float = Field(
        10.0, gt=1.0, description="An update norm above this x the median of earlier ones."
    )
    disabling_history: int = Field(
        3, ge=1, description="Earlier updates needed before a jump can be called one."
    )
    collapse_fraction: float = Field(
        0.5, gt=0.0, lt=1.0, description="Collapse: unedited-fact accuracy below this share."
    )
    save_artifact: bool = Field(True, description="Write the edited model (or adapter/memory).")
    oracle: bool = Field(
        False,
        description="Judge a forget scenario's run against the retain oracle (trained once "
        "under cache): forget quality, model utility, MIA AUCs, PrivLeak and their noise floor.",
    )
    oracle_replicates: int = Field(
        2,
        ge=1,
        le=10,
        description="Retain oracles to train (replicates 0..n-1 of the recipe; 2 or more give "
        "the noise floor).",
    )
    relearn: RelearnConfig | None = Field(
        None,
        description="Forget scenarios: the relearning attack on the unlearned model (and, with "
        "oracle, the retain oracles): true for the defaults, or {share, steps, lr, threshold}; "
        "null/false: off.",
    )

    @field_validator("model", "world", mode="before")
    @classmethod
    def _recipe(cls, v: Any, info: ValidationInfo) -> Any:
        """A mapping is a recipe, checked as one (errors name ``model.<key>``, not the union)."""
        if isinstance(v, dict):
            kind = ModelRecipe if info.field_name == "model" else WorldRecipe
            return located(str(info.field_name), validate, kind, v)
        return v

    @field_validator("relearn", mode="before")
    @classmethod
    def _relearn(cls, v: Any) -> Any:
        """``true``: the attack's defaults; ``false``/null: off; a mapping: its settings."""
        return relearn_setting(v)

    @model_validator(mode="after")
    def _check_names_and_settings(self) -> ExperimentConfig:
        if len(set(self.seeds or [])) != len(self.seeds or []):
            raise ConfigError("seeds", f"{self.seeds} repeats a seed", "give each seed once")
        for s in self.seeds or []:
            if s < 0:
                raise ConfigError("seeds", f"{s} is negative", "give seeds >= 0")
        if isinstance(self.model, ModelRecipe) and self.world is None:
            raise ConfigError(
                "world",
                "a model recipe needs the world to train on (only a model directory has its own)",
                "give world as a directory or a recipe ({preset: ...})",
            )
        if isinstance(self.world, WorldRecipe):
            located("world", self.world.resolved)
        if isinstance(self.model, ModelRecipe):
            located("model", self.model.resolved)
        self.editor_config(None)
        self.scenario_config(None)
        if self.relearn is not None and get_scenario(self.scenario).config.forgets is False:
            raise ConfigError(
                "relearn",
                f"scenario {self.scenario} forgets no facts, and relearning attacks forgetting "
                "only",
                "choose a forget scenario (forget-relation, forget-facts, forget-subjects, "
                "forget-nested) or drop relearn",
            )
        if not self.device.startswith(("cpu", "cuda", "mps")):
            raise ConfigError("device", f"{self.device!r} is no torch device", "write cpu or cuda")
        return self

    def editor_config(self, seed: int | None) -> EditorConfig:
        """The editor's validated config (``seed`` overrides its own)."""
        data = dict(self.editor_settings)
        if seed is not None:
            data["seed"] = seed
        return located("editor", lambda: validate(editor_class(self.editor).Config, data))

    def scenario_config(self, seed: int | None) -> ScenarioConfig:
        """The scenario's validated config (``seed`` overrides its own)."""
        data = dict(self.scenario_settings)
        if seed is not None:
            data["seed"] = seed
        return located("scenario", lambda: validate(get_scenario(self.scenario).config, data))

    def run_seeds(self) -> list[int | None]:
        """The seeds to run (``[None]``: one run with the settings' own seeds)."""
        return list(self.seeds) if self.seeds else [None]

    def resolved(self) -> dict[str, Any]:
        """The config with every editor and scenario default filled in (what a run uses)."""
        d = self.to_dict()
        if isinstance(self.world, WorldRecipe):
            d["world"] = self.world.canonical()
        if isinstance(self.model, ModelRecipe):
            d["model"] = self.model.canonical()
        d["editor_settings"] = self.editor_config(None).to_dict()
        d["scenario_settings"] = self.scenario_config(None).to_dict()
        return d

    def run_id(self) -> str:
        """A stable id of the run: the first 12 hex digits of SHA-256 over the resolved config
        (canonical JSON; the device and the cache location are left out: they change no result,
        and a recipe enters as the config it resolves to, never as the directory it is built
        in). With one replicate, and without the oracle judgment, the id is what it was before
        replicates and the oracle option existed; without ``relearn``, before it existed."""
        d = {k: v for k, v in self.resolved().items() if k not in ("device", "cache")}
        if d.get("replicates") == 1:
            del d["replicates"]
        if not d.get("oracle"):
            d.pop("oracle", None)
            d.pop("oracle_replicates", None)
        if d.get("relearn") is None:
            d.pop("relearn", None)
        text = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def with_settings(self, **changes: Any) -> ExperimentConfig:
        """A copy with ``changes`` (settings dicts are merged, not replaced), validated again."""
        d = self.to_dict()
        for k, v in changes.items():
            d[k] = deep_merge(d[k], v) if k.endswith("_settings") else v
        return validate(ExperimentConfig, d)
