"""Scoped forward hooks: read or patch activations of named modules, and leave nothing behind.

    with hooked(model, inputs=["gpt_neox.layers.2.mlp.dense_4h_to_h"]) as rec:
        model(input_ids=ids)
    keys = rec.inputs["gpt_neox.layers.2.mlp.dense_4h_to_h"]     # [B, T, d_ff]

Patching: ``patch={name: fn}`` where ``fn(output) -> new output`` (the first element if the
module returns a tuple). Hooks are removed when the block exits, even on an exception, so an
edited or traced model never keeps a stray hook (the failure TransformerLens' design avoids).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from behemoth.model.layers import get_module

Patch = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Record:
    """Activations captured in the last forward pass, by module name."""

    inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)


def _first(x: Any) -> torch.Tensor:
    return x[0] if isinstance(x, tuple) else x


@contextlib.contextmanager
def hooked(
    model: torch.nn.Module,
    *,
    inputs: Iterable[str] = (),
    outputs: Iterable[str] = (),
    patch: dict[str, Patch] | None = None,
    detach: bool = True,
) -> Iterator[Record]:
    """Record the first positional input of ``inputs`` modules and the output of ``outputs``
    modules; replace the output of ``patch`` modules by ``fn(output)``. ``detach=False`` keeps
    recorded tensors in the autograd graph."""
    rec = Record()
    handles: list[torch.utils.hooks.RemovableHandle] = []

    def keep(t: torch.Tensor) -> torch.Tensor:
        return t.detach() if detach else t

    try:
        for name in inputs:
            mod = get_module(model, name)

            def pre(_m: torch.nn.Module, args: tuple[Any, ...], _n: str = name) -> None:
                rec.inputs[_n] = keep(args[0])

            handles.append(mod.register_forward_pre_hook(pre))
        for name in set(outputs) | set(patch or {}):
            mod = get_module(model, name)
            fn = (patch or {}).get(name)
            record = name in set(outputs)

            def post(
                _m: torch.nn.Module,
                _a: tuple[Any, ...],
                out: Any,
                _n: str = name,
                _fn: Patch | None = fn,
                _rec: bool = record,
            ) -> Any:
                if _fn is not None:
                    new = _fn(_first(out))
                    out = (new, *out[1:]) if isinstance(out, tuple) else new
                if _rec:
                    rec.outputs[_n] = keep(_first(out))
                return out

            handles.append(mod.register_forward_hook(post))
        yield rec
    finally:
        for h in handles:
            h.remove()


def add_at(delta: torch.Tensor, positions: torch.Tensor) -> Patch:
    """A patch adding ``delta`` [d] (or [B, d]) to the output at ``positions`` [B] of each row."""

    def fn(out: torch.Tensor) -> torch.Tensor:
        rows = torch.arange(out.shape[0], device=out.device)
        out = out.clone()
        out[rows, positions] = out[rows, positions] + delta.to(out.dtype)
        return out

    return fn


def set_at(values: torch.Tensor, positions: torch.Tensor) -> Patch:
    """A patch replacing the output at ``positions`` [B] of each row by ``values`` [B, d]."""

    def fn(out: torch.Tensor) -> torch.Tensor:
        rows = torch.arange(out.shape[0], device=out.device)
        out = out.clone()
        out[rows, positions] = values.to(out.dtype)
        return out

    return fn
