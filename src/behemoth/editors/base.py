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
import math
import shutil
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field

from behemoth.config import StrictConfig
from behemoth.editors.context import EditContext
from behemoth.editors.deltas import delta_norms, exact_deltas
from behemoth.errors import BehemothError, ConfigError
from behemoth.measure import measure_cost
from behemoth.model.layers import LayerPaths, resolve_paths
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

    Each kind of editor returns its own subclass, which answers for itself what the edit
    changed and how it is saved, so that no caller branches on the kind: a
    :class:`WeightEdit` (weight editors) or a
    :class:`~behemoth.editors.wrapper.WrapperEdit` (wrapper editors).

    ``deltas``/``norms``: this call's change of the weights, relative to the model it was given
    (empty for a wrapper). ``artifact``: the folder name :meth:`save` writes the edited model
    under ("model" for a plain model, "adapter" for an unmerged adapter, "wrapper" for a
    wrapper's memory).
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

    @property
    def update_fro(self) -> float:
        """|dW|_F of this call over every changed matrix (Gupta et al. 2024, arXiv 2401.07453,
        Sec. 4: a jump in it marks a disabling edit); NaN for a wrapper, whose weights never
        change (the disabling-edit rule skips NaN)."""
        return math.sqrt(sum(float(n["fro"] or 0.0) ** 2 for n in self.norms.values()))

    def weights(self) -> torch.nn.Module:
        """The plain model whose weights hold the edit (an adapter merged into a copy); a
        wrapper's base model, unchanged."""
        return self.model

    def changes_from(self, original: torch.nn.Module) -> dict[str, dict[str, float | int | None]]:
        """Norms and ranks (:func:`~behemoth.editors.deltas.delta_norms`) of the whole change
        from ``original`` (e.g. the unedited model, several batches back) to this result."""
        raise NotImplementedError

    def save(self, where: Path, meta_files: Sequence[Path] = ()) -> Path:
        """Write the edited model under ``where / artifact`` and return that folder;
        ``meta_files`` are copied beside a full model (so it loads like the original)."""
        raise NotImplementedError


@dataclass
class WeightEdit(EditResult):
    """A weight editor's result: a new model whose changed weights are exactly ``deltas``."""

    merge: Callable[[], torch.nn.Module] | None = field(default=None, repr=False)
    given: Callable[[], torch.nn.Module | None] | None = field(default=None, repr=False)

    def weights(self) -> torch.nn.Module:
        return self.merge() if self.merge is not None else self.model

    def changes_from(self, original: torch.nn.Module) -> dict[str, dict[str, float | int | None]]:
        if self.given is not None and self.given() is original:
            return self.norms  # this call's own deltas are the whole change
        return delta_norms(original, exact_deltas(original, self.weights()))

    def save(self, where: Path, meta_files: Sequence[Path] = ()) -> Path:
        out = Path(where) / self.artifact
        out.parent.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(out))  # type: ignore[operator]
        if self.artifact == "model":  # a full model: it loads alone, with its metadata
            for f in meta_files:
                shutil.copy2(f, out / Path(f).name)
        return out


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
            weights = self._weights(outcome.model)
            deltas = exact_deltas(model, weights)
        edited_model = outcome.model
        plain = weights is edited_model
        del weights  # an adapter's merged copy: made again only when asked for
        return WeightEdit(
            edited_model,
            deltas,
            delta_norms(model, deltas),
            cost.wall_time_s,
            cost.peak_memory_bytes,
            cost.memory_increase_bytes,
            outcome.info,
            outcome.tensors,
            self._artifact(edited_model),
            merge=None if plain else (lambda: self._weights(edited_model)),
            given=weakref.ref(model),
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
