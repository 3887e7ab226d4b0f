"""The editor interface: a validated config, optional one-time preparation, and ``apply``.

    editor = build_editor("rome", {"layer": 2})
    editor.prepare(model, world)              # request-independent state (covariance stats)
    result = editor.apply(model, requests)    # a NEW model; ``model`` is never touched
    result.deltas                             # {param name: W_new - W_old} in float64, exact

Contract, checked for every registered editor by one conformance suite: the input model is
bit-for-bit unchanged; the same config and seed give the same deltas; ``apply_deltas`` then
``remove_deltas`` restores a model exactly. Deltas are kept in float64: the difference of two
float32 (or bf16) weights is exact there, so ``W_old + delta`` and ``W_new - delta`` are exact
too, and the check is made when the deltas are taken, not assumed.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from pydantic import Field

from behemoth.config import StrictConfig
from behemoth.editors.layers import LayerPaths, resolve_paths
from behemoth.errors import BehemothError, ConfigError
from behemoth.evaluation.cost import measure_cost
from behemoth.scenarios.request import EditRequest


class EditorConfig(StrictConfig):
    """Settings every editor has. Subclasses add their method's hyperparameters."""

    seed: int = Field(0, description="Seed of every random choice the editor makes.")
    arch: str = Field(
        "auto", description="Layer-path preset (gpt_neox, llama) or auto from the model."
    )
    paths: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of layer path templates."
    )


@dataclass
class EditOutcome:
    """What an editor's ``_edit`` hands back to :meth:`Editor.apply`.

    ``weights`` is the plain model whose parameters define the deltas (for a LoRA adapter kept
    unmerged: a merged copy); it defaults to ``model``.
    """

    model: torch.nn.Module
    weights: torch.nn.Module | None = None
    adapter: dict[str, torch.Tensor] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class EditResult:
    """A new edited model and what changed: exact deltas, their norms and ranks, cost."""

    model: torch.nn.Module
    deltas: dict[str, torch.Tensor]
    adapter: dict[str, torch.Tensor] | None
    norms: dict[str, dict[str, float | int | None]]
    wall_seconds: float
    peak_memory_bytes: int  # CUDA: allocator peak; CPU: peak resident set (sampled) of the process
    memory_increase_bytes: int  # that peak minus what was in use when the edit started
    info: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)  # e.g. ROME's k*, v*

    def summary(self) -> dict[str, Any]:
        """JSON-ready: per-parameter norms/ranks, time, memory and editor-specific info."""
        return {
            "changed_parameters": sorted(self.deltas),
            "norms": self.norms,
            "wall_seconds": self.wall_seconds,
            "peak_memory_bytes": self.peak_memory_bytes,
            "memory_increase_bytes": self.memory_increase_bytes,
            "adapter": self.adapter is not None,
            "info": self.info,
        }


class Editor(ABC):
    """Base of every weight editor. Subclasses set ``name``, ``Config`` and implement ``_edit``."""

    name: ClassVar[str]
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
        self.world: Any = None
        self.retain: Any = None  # a ProbeSet of facts to keep, or None (see set_retain)

    # -- the interface -----------------------------------------------------------------------
    def prepare(self, model: torch.nn.Module, world: Any) -> None:
        """Compute request-independent state (e.g. second-moment statistics) once."""
        self.world = world
        self._prepare(model, world)

    def set_retain(self, probes: Any) -> None:
        """Facts to keep while editing: a scenario's retain mix (``scenario.retain.probes``),
        disjoint from its test sets. Editors that replay known facts (FT, LoRA) draw from it
        instead of from the whole world, so that the facts they rehearse are never the facts
        specificity is measured on. ``None`` = the world's facts."""
        self.retain = probes

    def apply(self, model: torch.nn.Module, requests: Sequence[EditRequest]) -> EditResult:
        """Edit a deep copy of ``model`` so that it answers ``requests``; return it and the deltas."""
        if not requests:
            raise BehemothError(f"{self.name}: no edit requests given")
        if self.world is None:
            raise BehemothError(f"{self.name}: call prepare(model, world) before apply()")
        dev = _device(model)
        with measure_cost(dev) as cost:
            edited = copy.deepcopy(model)
            # Library code never touches global RNG state: fork it, seed it, restore it on exit.
            with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
                torch.manual_seed(self.config.seed)
                outcome = self._edit(edited, list(requests))
            outcome.model.train(model.training)
            deltas = exact_deltas(
                model, outcome.weights if outcome.weights is not None else outcome.model
            )
        return EditResult(
            outcome.model,
            deltas,
            outcome.adapter,
            delta_norms(model, deltas),
            cost.wall_time_s,
            cost.peak_memory_bytes,
            cost.memory_increase_bytes,
            outcome.info,
            outcome.tensors,
        )

    def paths(self, model: torch.nn.Module) -> LayerPaths:
        return resolve_paths(model, self.config.arch, self.config.paths)

    # -- for subclasses ------------------------------------------------------------------------
    def _prepare(self, model: torch.nn.Module, world: Any) -> None:  # noqa: B027 - optional hook
        """Override to compute request-independent state."""

    @abstractmethod
    def _edit(self, model: torch.nn.Module, requests: list[EditRequest]) -> EditOutcome:
        """Edit ``model`` (already a private deep copy) in place and describe the result."""


# -- deltas ------------------------------------------------------------------------------------
@torch.no_grad()
def exact_deltas(before: torch.nn.Module, after: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``{name: W_after - W_before}`` (float64, on CPU) for every floating parameter that changed.

    Raises if a difference is not exactly representable (weights more than 2^29 apart in scale),
    so ``apply_deltas``/``remove_deltas`` are exact whenever deltas exist.
    """
    old = dict(before.named_parameters())
    out: dict[str, torch.Tensor] = {}
    for name, p in after.named_parameters():
        if name not in old or not p.is_floating_point():
            continue
        a, b = old[name].detach().cpu().double(), p.detach().cpu().double()
        if a.shape != b.shape:
            raise BehemothError(
                f"parameter {name} changed shape {tuple(a.shape)} -> {tuple(b.shape)}"
            )
        d = b - a
        if not torch.any(d != 0):
            continue
        if not (torch.equal(a + d, b) and torch.equal(b - d, a)):
            raise BehemothError(f"the change of {name} is not exactly representable in float64")
        out[name] = d
    return out


@torch.no_grad()
def apply_deltas(model: torch.nn.Module, deltas: dict[str, torch.Tensor]) -> None:
    """Add ``deltas`` to ``model``'s parameters in place (exact for the model they came from)."""
    _shift(model, deltas, +1)


@torch.no_grad()
def remove_deltas(model: torch.nn.Module, deltas: dict[str, torch.Tensor]) -> None:
    """Subtract ``deltas`` from ``model``'s parameters in place: undoes :func:`apply_deltas`."""
    _shift(model, deltas, -1)


def _shift(model: torch.nn.Module, deltas: dict[str, torch.Tensor], sign: int) -> None:
    params = dict(model.named_parameters())
    missing = [n for n in deltas if n not in params]
    if missing:
        raise BehemothError(f"the model has no parameter {missing[0]!r} of these deltas")
    for name, d in deltas.items():
        p = params[name]
        if p.shape != d.shape:
            raise BehemothError(
                f"delta of {name} has shape {tuple(d.shape)}, the parameter {tuple(p.shape)}"
            )
        new = p.detach().double() + sign * d.to(p.device)
        p.copy_(new.to(p.dtype))


@torch.no_grad()
def delta_norms(
    model: torch.nn.Module, deltas: dict[str, torch.Tensor], max_rank_numel: int = 1 << 24
) -> dict[str, dict[str, float | int | None]]:
    """Per changed parameter: Frobenius norm, norm relative to the weight, max |entry|, rank.

    The rank is counted at the precision of the weights (see :func:`matrix_rank`); it is skipped
    (None) for matrices above ``max_rank_numel`` entries.
    """
    params = dict(model.named_parameters())
    out: dict[str, dict[str, float | int | None]] = {}
    for name, d in deltas.items():
        w = params[name].detach().cpu().double()
        rank: int | None = None
        if d.dim() == 2 and d.numel() <= max_rank_numel:
            rank = matrix_rank(d, params[name].dtype, float(w.norm()))
        out[name] = {
            "fro": float(d.norm()),
            "relative": float(d.norm() / w.norm().clamp_min(1e-30)),
            "max_abs": float(d.abs().max()),
            "numel": int(d.numel()),
            "rank": rank,
        }
    return out


def matrix_rank(
    d: torch.Tensor, dtype: torch.dtype = torch.float32, weight_norm: float = 0.0
) -> int:
    """Numerical rank of a delta stored in weights of ``dtype``.

    Singular values count above numpy's default tolerance (sigma_max * max(m, n) * eps) and
    above the rounding of the stored weights: W_new = round(W_old + D) differs from W_old + D
    by at most eps/2 per entry, a matrix of spectral norm <= eps/2 * |W|_F (``weight_norm``).
    """
    s = torch.linalg.svdvals(d.double())
    if s.numel() == 0 or s[0] == 0:
        return 0
    eps = torch.finfo(dtype).eps
    tol = max(float(s[0]) * max(d.shape) * eps, eps * weight_norm)
    return int((s > tol).sum())


def _device(model: torch.nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")
