"""Wrapper editors: the base model stays untouched; the edits live in a memory beside it.

SERAC (Mitchell et al. 2022, arXiv 2206.06520) and GRACE (Hartvigsen et al. 2023, arXiv
2211.11031) do not change weights: they route some inputs to a memory of edits. Here such an
editor is a :class:`WrapperEditor`; its ``apply`` returns an :class:`EditWrapper`, a module that

- holds the base model by reference and never writes to it (the conformance suite compares the
  base weights bit for bit, and checks that an empty memory reproduces the base outputs exactly);
- answers like a causal LM (``wrapper(input_ids=...).logits``), so every evaluation works on it;
- keeps its memory as named tensors, saved with safetensors next to a JSON header (no pickle)
  and loaded onto a base model with :meth:`EditWrapper.load`.

Applying a wrapper editor to a wrapper of its own kind extends a copy of its memory (the
sequential setting); the result's ``deltas`` are empty, since no weight changes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from safetensors.torch import load_file, save_file

from behemoth.editors.base import Editor, EditResult, check_apply
from behemoth.editors.context import EditContext
from behemoth.editors.deltas import delta_norms, exact_deltas
from behemoth.errors import BehemothError
from behemoth.io import atomic_dir, read_json, write_json
from behemoth.measure import measure_cost
from behemoth.scenarios.request import EditRequest

MEMORY_FILE = "memory.safetensors"
HEADER_FILE = "wrapper.json"


class EditWrapper(torch.nn.Module, ABC):
    """A causal LM made of an untouched ``base`` model and a ``memory`` of named tensors."""

    editor: ClassVar[str]  # the registered name of the editor that builds this wrapper

    def __init__(self, base: torch.nn.Module, memory: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.base = base
        self.memory = {k: v.detach().clone() for k, v in memory.items()}

    @property
    def config(self) -> Any:  # what HF code reads from a causal LM
        return getattr(self.base, "config", None)

    def forward(self, input_ids: torch.Tensor, **kwargs: Any) -> Any:
        out = self.base(input_ids=input_ids, **kwargs)
        if self.is_empty():
            return out  # the base model's own answer, exactly
        return self.respond(input_ids, out)

    @abstractmethod
    def is_empty(self) -> bool:
        """True when the memory holds no edit."""

    @abstractmethod
    def respond(self, input_ids: torch.Tensor, base_output: Any) -> Any:
        """The answer to ``input_ids`` given the base model's output on them (same type)."""

    # -- persistence (no pickle) ------------------------------------------------------------
    def save_pretrained(self, path: str | Path, header: dict[str, Any] | None = None) -> None:
        """Write the memory (safetensors) and a JSON header; the base model is not copied."""
        with atomic_dir(Path(path), force=True, marker=HEADER_FILE) as tmp:
            save_file({k: v.contiguous().cpu() for k, v in self.memory.items()}, tmp / MEMORY_FILE)
            write_json(tmp / HEADER_FILE, {"editor": self.editor, **(header or {})})

    @classmethod
    def load(cls, path: str | Path, base: torch.nn.Module) -> EditWrapper:
        """The wrapper saved at ``path``, around ``base``."""
        header = read_json(Path(path) / HEADER_FILE)
        if header.get("editor") != cls.editor:
            raise BehemothError(
                f"{path}: a {header.get('editor')!r} wrapper, not {cls.editor!r}; "
                "load it with that editor's wrapper class"
            )
        dev = next(base.parameters()).device
        return cls(
            base, {k: v.to(dev) for k, v in load_file(str(Path(path) / MEMORY_FILE)).items()}
        )


@dataclass
class WrapperEdit(EditResult):
    """A wrapper editor's result: the untouched base model and a memory of the edits beside it.
    No weight changes, so no deltas and no update norm (NaN); it saves its memory only."""

    model: EditWrapper

    @property
    def memory(self) -> dict[str, torch.Tensor]:
        """The wrapper's memory of edits (named tensors)."""
        return self.model.memory

    @property
    def update_fro(self) -> float:
        return float("nan")

    def weights(self) -> torch.nn.Module:
        return self.model.base

    def changes_from(self, original: torch.nn.Module) -> dict[str, dict[str, float | int | None]]:
        base = self.model.base
        return {} if base is original else delta_norms(original, exact_deltas(original, base))

    def save(self, where: Path, meta_files: Sequence[Path] = ()) -> Path:
        out = Path(where) / self.artifact
        out.parent.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(out)
        return out


class WrapperEditor(Editor):
    """An editor whose result wraps the untouched base model (see the module docstring)."""

    kind: ClassVar[Literal["weights", "wrapper"]] = "wrapper"
    Wrapper: ClassVar[type[EditWrapper]]

    def apply(
        self,
        model: torch.nn.Module,
        requests: Sequence[EditRequest],
        context: EditContext,
    ) -> EditResult:
        ctx = check_apply(self.name, requests, context)
        if isinstance(model, self.Wrapper):
            base, memory = model.base, dict(model.memory)
        else:
            base, memory = model, self.empty_memory(model)
        dev = next(base.parameters()).device
        with measure_cost(dev) as cost:
            with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
                torch.manual_seed(self.config.seed)
                memory, info = self._remember(base, memory, list(requests), ctx)
            wrapped = self.Wrapper(base, memory)
        return WrapperEdit(
            wrapped,
            {},
            {},
            cost.wall_time_s,
            cost.peak_memory_bytes,
            cost.memory_increase_bytes,
            info,
            dict(wrapped.memory),
            artifact="wrapper",
        )

    @abstractmethod
    def empty_memory(self, base: torch.nn.Module) -> dict[str, torch.Tensor]:
        """The memory of a wrapper that holds no edit yet."""

    @abstractmethod
    def _remember(
        self,
        base: torch.nn.Module,
        memory: dict[str, torch.Tensor],
        requests: list[EditRequest],
        context: EditContext,
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """A NEW memory holding ``memory``'s edits plus ``requests`` (never write to either)."""
