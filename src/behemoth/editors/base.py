"""The editor contract: a validated config, optional one-time preparation, and ``apply``.

    editor = build_editor("rome", {"layer": 2})
    context = EditContext(world, retain=scenario.retain.probes)
    editor.prepare(model, context)                 # request-independent state (covariances)
    result = editor.apply(model, requests, context)  # ``model`` is never touched

The context is passed to every call, never kept by the editor: ``prepare`` keeps only what it
computes from the model and the world (e.g. covariances), and ``apply`` takes its world, retain
mix, lineage and cache from the context it is given.

Two kinds of editor share it (:attr:`Editor.kind`):

- a :class:`WeightEditor` returns a NEW model with changed weights and the exact parameter
  deltas (``result.deltas``: {param: W_new - W_old} in float64; :mod:`behemoth.editors.deltas`);
- a :class:`~behemoth.editors.wrapper.WrapperEditor` returns a module wrapping the untouched
  base model with a memory of the edits (SERAC, GRACE); its ``deltas`` are empty.

Checked for every registered editor by one conformance suite (tests/editors/conformance.py):
the input model is bit-for-bit unchanged; two ``apply`` calls give identical results; weight
deltas are exact; a wrapper leaves the base weights unchanged and with an empty memory
reproduces the base model's outputs exactly.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field

from behemoth.config import StrictConfig
from behemoth.editors.context import EditContext
from behemoth.editors.deltas import delta_norms, exact_deltas
from behemoth.editors.layers import LayerPaths, resolve_paths
from behemoth.errors import BehemothError, ConfigError
from behemoth.measure import measure_cost
from behemoth.scenarios.request import EditRequest
from behemoth.world.world import World


class EditorConfig(StrictConfig):
    """Settings every editor has. Subclasses add their method's hyperparameters."""

    seed: int = Field(0, description="Seed of every random choice the editor makes.")
    arch: str = Field(
        "auto",
        description="Layer-path preset (gpt_neox, gpt2, llama, qwen2) or auto from the model.",
    )
    paths: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of layer path templates."
    )


@dataclass
class EditOutcome:
    """What a weight editor's ``_edit`` hands back to :meth:`WeightEditor.apply`."""

    model: torch.nn.Module
    info: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class EditResult:
    """A new edited model and what changed: exact deltas, their norms and ranks, cost.

    ``artifact``: the folder name the edited model is saved under (``model.save_pretrained``),
    "model" for a plain model; editors whose model saves only its own part (an unmerged
    adapter, a wrapper's memory) name it.
    """

    model: torch.nn.Module
    deltas: dict[str, torch.Tensor]
    norms: dict[str, dict[str, float | int | None]]
    wall_seconds: float
    peak_memory_bytes: int  # CUDA: allocator peak; CPU: peak resident set (sampled) of the process
    memory_increase_bytes: int  # that peak minus what was in use when the edit started
    info: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)  # e.g. ROME's k*, v*
    artifact: str = "model"

    def summary(self) -> dict[str, Any]:
        """JSON-ready: per-parameter norms/ranks, time, memory and editor-specific info."""
        return {
            "changed_parameters": sorted(self.deltas),
            "norms": self.norms,
            "wall_seconds": self.wall_seconds,
            "peak_memory_bytes": self.peak_memory_bytes,
            "memory_increase_bytes": self.memory_increase_bytes,
            "artifact": self.artifact,
            "info": self.info,
        }


class Editor(ABC):
    """Base of every editor. Subclasses set ``name`` and ``Config``; see the two kinds."""

    name: ClassVar[str]
    kind: ClassVar[Literal["weights", "wrapper"]]
    Config: ClassVar[type[EditorConfig]] = EditorConfig

    def __init__(self, config: EditorConfig | None = None) -> None:
        cfg = config if config is not None else self.Config.model_validate({})
        if not isinstance(cfg, self.Config):
            raise ConfigError(
                "editor",
                f"{type(cfg).__name__} is not a {self.Config.__name__}",
                f"build {self.name!r} with its own config class",
            )
        self.config = cfg

    def prepare(self, model: torch.nn.Module, context: EditContext | World) -> None:
        """Compute request-independent state (e.g. second-moment statistics) once; the context
        is not kept (``apply`` gets its own)."""
        self._prepare(model, context if isinstance(context, EditContext) else EditContext(context))

    @abstractmethod
    def apply(
        self,
        model: torch.nn.Module,
        requests: Sequence[EditRequest],
        context: EditContext,
    ) -> EditResult:
        """Edit so that the result answers ``requests``; ``model`` is never changed."""

    def paths(self, model: torch.nn.Module) -> LayerPaths:
        return resolve_paths(model, self.config.arch, self.config.paths)

    def _prepare(self, model: torch.nn.Module, context: EditContext) -> None:  # noqa: B027
        """Override to compute request-independent state."""


class WeightEditor(Editor):
    """An editor that changes weights: ``_edit`` works on a private deep copy of the model."""

    kind: ClassVar[Literal["weights", "wrapper"]] = "weights"

    def apply(
        self,
        model: torch.nn.Module,
        requests: Sequence[EditRequest],
        context: EditContext,
    ) -> EditResult:
        """Edit a deep copy of ``model`` so that it answers ``requests``; return it and the deltas."""
        ctx = check_apply(self.name, requests, context)
        dev = _device(model)
        with measure_cost(dev) as cost:
            edited = copy.deepcopy(model)
            # Library code never touches global RNG state: fork it, seed it, restore it on exit.
            with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
                torch.manual_seed(self.config.seed)
                outcome = self._edit(edited, list(requests), ctx)
            outcome.model.train(model.training)
            deltas = exact_deltas(model, self._weights(outcome.model))
        return EditResult(
            outcome.model,
            deltas,
            delta_norms(model, deltas),
            cost.wall_time_s,
            cost.peak_memory_bytes,
            cost.memory_increase_bytes,
            outcome.info,
            outcome.tensors,
            self._artifact(outcome.model),
        )

    def _weights(self, edited: torch.nn.Module) -> torch.nn.Module:
        """The plain model whose parameters define the deltas (default: the edited model)."""
        return edited

    def _artifact(self, edited: torch.nn.Module) -> str:
        return "model"

    @abstractmethod
    def _edit(
        self, model: torch.nn.Module, requests: list[EditRequest], context: EditContext
    ) -> EditOutcome:
        """Edit ``model`` (already a private deep copy) in place and describe the result."""


def check_apply(name: str, requests: Sequence[EditRequest], context: object) -> EditContext:
    """``context``, after checking that there are requests and that a context was passed."""
    if not requests:
        raise BehemothError(f"{name}: no edit requests given")
    if not isinstance(context, EditContext):
        raise BehemothError(
            f"{name}: apply() needs an EditContext as its third argument, got "
            f"{type(context).__name__}; pass EditContext(world) or EditContext.for_scenario(...)"
        )
    return context


def _device(model: torch.nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")
