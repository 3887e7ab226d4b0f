"""An experiment as data: :class:`ExperimentConfig`, validated whole before anything loads.

A config names the world and model directories, a registered scenario and editor with their
settings, the seeds, the evaluation schedule and the device. Validation resolves the editor's
and the scenario's settings against their registries and config classes, so a typo in any of
them is a one-line error before a model is read. :meth:`ExperimentConfig.run_id` hashes the
*resolved* config (defaults filled in), so two spellings of the same run share one id.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import Field, model_validator

from behemoth.config import StrictConfig, deep_merge, located, validate
from behemoth.editors.base import EditorConfig
from behemoth.editors.registry import editor_class
from behemoth.errors import ConfigError
from behemoth.scenarios.scenario import ScenarioConfig, get_scenario


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
    """

    model: str = Field(description="The model directory.")
    world: str | None = Field(None, description="The world directory; null = the model's own.")
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

    @model_validator(mode="after")
    def _check_names_and_settings(self) -> ExperimentConfig:
        if len(set(self.seeds or [])) != len(self.seeds or []):
            raise ConfigError("seeds", f"{self.seeds} repeats a seed", "give each seed once")
        for s in self.seeds or []:
            if s < 0:
                raise ConfigError("seeds", f"{s} is negative", "give seeds >= 0")
        self.editor_config(None)
        self.scenario_config(None)
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
        d["editor_settings"] = self.editor_config(None).to_dict()
        d["scenario_settings"] = self.scenario_config(None).to_dict()
        return d

    def run_id(self) -> str:
        """A stable id of the run: the first 12 hex digits of SHA-256 over the resolved config
        (canonical JSON; the device and the cache location are left out: they change no result).
        With one replicate, and without the oracle judgment, the id is what it was before
        replicates and the oracle option existed."""
        d = {k: v for k, v in self.resolved().items() if k not in ("device", "cache")}
        if d.get("replicates") == 1:
            del d["replicates"]
        if not d.get("oracle"):
            d.pop("oracle", None)
            d.pop("oracle_replicates", None)
        text = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def with_settings(self, **changes: Any) -> ExperimentConfig:
        """A copy with ``changes`` (settings dicts are merged, not replaced), validated again."""
        d = self.to_dict()
        for k, v in changes.items():
            d[k] = deep_merge(d[k], v) if k.endswith("_settings") else v
        return validate(ExperimentConfig, d)
