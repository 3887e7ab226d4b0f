"""Where things are inside a causal LM: module path templates, so editors work on any model.

An editor never hard-codes ``gpt_neox.layers.3.mlp.dense_4h_to_h``; it asks a
:class:`LayerPaths` for ``mlp_out`` of layer 3. Presets cover GPT-NeoX (Pythia and the models
trained here) and Llama-style models; any other Hugging Face causal LM works once its paths
are given (every field can be overridden from the editor's config).
"""

from __future__ import annotations

import difflib

import torch
from pydantic import Field

from behemoth.config import StrictConfig
from behemoth.errors import ConfigError

#: The parts an editor may target, by stable name (the keys of LayerPaths' templates).
PARTS = ("block", "attn_in", "attn_out", "mlp_in", "mlp_out")


class LayerPaths(StrictConfig):
    """Module name templates; ``{}`` is replaced by the layer index.

    ``mlp_out`` is the MLP's down-projection (ROME's W, d_ff -> d); its input is the key k.
    ``block`` is a whole transformer block, whose output is the residual stream (MEMIT's h^l).
    """

    layers: str = Field(..., description="The ModuleList of transformer blocks.")
    block: str = Field(..., description="One block; its output is the residual stream.")
    attn_in: list[str] = Field(
        ..., description="Attention input projection(s), e.g. query_key_value."
    )
    attn_out: str = Field(..., description="Attention output projection.")
    mlp_in: list[str] = Field(..., description="MLP up (and gate) projection(s).")
    mlp_out: str = Field(..., description="MLP down-projection (ROME/MEMIT edit this matrix).")
    head: str = Field(..., description="The output head (unembedding).")
    embed: str = Field(..., description="The input token embedding.")

    def at(self, part: str, layer: int) -> list[str]:
        """Module names of ``part`` ("block", "attn_in", ...) in block ``layer``."""
        if part not in PARTS:
            hint = difflib.get_close_matches(part, PARTS, n=1)
            raise ConfigError(
                "part",
                f"unknown part {part!r}",
                f"did you mean {hint[0]!r}?" if hint else f"use one of {', '.join(PARTS)}",
            )
        value = getattr(self, part)
        templates = value if isinstance(value, list) else [value]
        return [t.format(layer) for t in templates]

    def one(self, part: str, layer: int) -> str:
        return self.at(part, layer)[0]

    def n_layers(self, model: torch.nn.Module) -> int:
        return len(get_module(model, self.layers))  # type: ignore[arg-type]


PRESETS: dict[str, dict[str, object]] = {
    "gpt_neox": {
        "layers": "gpt_neox.layers",
        "block": "gpt_neox.layers.{}",
        "attn_in": ["gpt_neox.layers.{}.attention.query_key_value"],
        "attn_out": "gpt_neox.layers.{}.attention.dense",
        "mlp_in": ["gpt_neox.layers.{}.mlp.dense_h_to_4h"],
        "mlp_out": "gpt_neox.layers.{}.mlp.dense_4h_to_h",
        "head": "embed_out",
        "embed": "gpt_neox.embed_in",
    },
    "llama": {
        "layers": "model.layers",
        "block": "model.layers.{}",
        "attn_in": [
            "model.layers.{}.self_attn.q_proj",
            "model.layers.{}.self_attn.k_proj",
            "model.layers.{}.self_attn.v_proj",
        ],
        "attn_out": "model.layers.{}.self_attn.o_proj",
        "mlp_in": ["model.layers.{}.mlp.gate_proj", "model.layers.{}.mlp.up_proj"],
        "mlp_out": "model.layers.{}.mlp.down_proj",
        "head": "lm_head",
        "embed": "model.embed_tokens",
    },
}
#: Hugging Face ``config.model_type`` -> preset.
MODEL_TYPES = {"gpt_neox": "gpt_neox", "llama": "llama", "mistral": "llama", "qwen2": "llama"}


def resolve_paths(
    model: torch.nn.Module, arch: str = "auto", overrides: dict[str, object] | None = None
) -> LayerPaths:
    """The paths of ``model``: the ``arch`` preset ("auto" = from its config) plus overrides."""
    if arch == "auto":
        model_type = getattr(getattr(model, "config", None), "model_type", None)
        if model_type not in MODEL_TYPES:
            if overrides and set(LayerPaths.model_fields) <= set(overrides):
                return LayerPaths.from_dict(dict(overrides))
            raise ConfigError(
                "arch",
                f"no layer-path preset for model type {model_type!r}",
                f"set arch to one of {', '.join(PRESETS)} or give every field of paths",
            )
        arch = MODEL_TYPES[model_type]
    if arch not in PRESETS:
        hint = difflib.get_close_matches(arch, PRESETS, n=1)
        raise ConfigError(
            "arch",
            f"unknown architecture {arch!r}",
            f"did you mean {hint[0]!r}?" if hint else f"use one of {', '.join(PRESETS)}",
        )
    return LayerPaths.from_dict({**PRESETS[arch], **(overrides or {})})


def get_module(model: torch.nn.Module, name: str) -> torch.nn.Module:
    """The submodule called ``name``, with a 'did you mean' error naming close module names."""
    try:
        return model.get_submodule(name)
    except AttributeError:
        names = [n for n, _ in model.named_modules()]
        hint = difflib.get_close_matches(name, names, n=1)
        raise ConfigError(
            "paths",
            f"the model has no module {name!r}",
            f"did you mean {hint[0]!r}?" if hint else "set the editor's arch/paths",
        ) from None


def linear_weight(model: torch.nn.Module, name: str) -> torch.nn.Parameter:
    """The [out, in] weight of the linear layer ``name`` (only nn.Linear-style layers)."""
    mod = get_module(model, name)
    w = getattr(mod, "weight", None)
    if (
        not isinstance(w, torch.nn.Parameter)
        or w.dim() != 2
        or not isinstance(mod, torch.nn.Linear)
    ):
        raise ConfigError(
            "paths",
            f"{name!r} is not a linear layer with an [out, in] weight",
            "point the template at an nn.Linear module",
        )
    return w


def layer_index(layer: int, n_layers: int, field: str = "layer") -> int:
    """Resolve a possibly negative layer index, with an error naming the valid range."""
    idx = layer + n_layers if layer < 0 else layer
    if not 0 <= idx < n_layers:
        raise ConfigError(
            field,
            f"layer {layer} does not exist in a {n_layers}-layer model",
            f"choose a layer in 0..{n_layers - 1} (or -1..-{n_layers})",
        )
    return idx


def select_layers(layers: list[int] | None, n_layers: int, field: str = "layers") -> list[int]:
    """The distinct blocks ``layers`` names (negative: from the end), sorted; None = every block."""
    if layers is None:
        return list(range(n_layers))
    return sorted({layer_index(i, n_layers, field) for i in layers})
