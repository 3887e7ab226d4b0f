"""Where things are inside a causal LM: module path templates, so editors work on any model.

An editor never hard-codes ``gpt_neox.layers.3.mlp.dense_4h_to_h``; it asks a
:class:`LayerPaths` for ``mlp_out`` of layer 3. Presets cover GPT-NeoX (Pythia and the models
trained here), GPT-2, and Llama-style models (Llama, Mistral, Qwen2), found from the model's
``config.model_type``; any other Hugging Face causal LM works once its paths are given (every
field can be overridden from the editor's config). The presets are exercised on tiny randomly
initialized models of each architecture (tests/editors/test_architectures.py).

GPT-2 stores its projections as ``Conv1D`` modules, whose weight is the transpose of
``nn.Linear``'s ([in, out], y = x W + b). :func:`linear_weight` hides that: editors always see
an [out, in] matrix, and writing into it writes the stored weight.
"""

from __future__ import annotations

import difflib

import torch
from pydantic import Field
from transformers.pytorch_utils import Conv1D

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
        "head": "embed_out",  # transformers < 5; found from the model (_embedding_names)
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
    "gpt2": {
        "layers": "transformer.h",
        "block": "transformer.h.{}",
        "attn_in": ["transformer.h.{}.attn.c_attn"],
        "attn_out": "transformer.h.{}.attn.c_proj",
        "mlp_in": ["transformer.h.{}.mlp.c_fc"],
        "mlp_out": "transformer.h.{}.mlp.c_proj",
        "head": "lm_head",
        "embed": "transformer.wte",
    },
}
PRESETS["qwen2"] = PRESETS["llama"]  # Qwen2 has Llama's module names (plus q/k/v biases)
#: Hugging Face ``config.model_type`` -> preset.
MODEL_TYPES = {
    "gpt_neox": "gpt_neox",
    "gpt2": "gpt2",
    "llama": "llama",
    "mistral": "llama",
    "qwen2": "qwen2",
}


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
    return LayerPaths.from_dict({**PRESETS[arch], **_embedding_names(model), **(overrides or {})})


def _embedding_names(model: torch.nn.Module) -> dict[str, str]:
    """The output head and input embedding as the model itself names them (its
    ``get_output_embeddings`` / ``get_input_embeddings``): transformers 5 renamed GPT-NeoX's
    ``embed_out`` to ``lm_head``, so a fixed name holds for one version only."""
    out: dict[str, str] = {}
    for field, getter in (("head", "get_output_embeddings"), ("embed", "get_input_embeddings")):
        fn = getattr(model, getter, None)
        module = fn() if callable(fn) else None
        if isinstance(module, torch.nn.Module):
            name = next((n for n, m in model.named_modules() if m is module), None)
            if name:
                out[field] = name
    return out


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


def block_parameters(
    model: torch.nn.Module, paths: LayerPaths, parts: tuple[str, ...], layers: list[int]
) -> dict[str, torch.nn.Parameter]:
    """The parameters of the modules ``parts`` (e.g. ``("mlp_in", "mlp_out")``) of blocks
    ``layers``, by their name in ``model`` (what a gradient editor tunes)."""
    out: dict[str, torch.nn.Parameter] = {}
    for layer in layers:
        for part in parts:
            for mod_name in paths.at(part, layer):
                for pname, p in get_module(model, mod_name).named_parameters():
                    out[f"{mod_name}.{pname}"] = p
    return out


def linear_weight(model: torch.nn.Module, name: str) -> torch.Tensor:
    """The weight of the linear layer ``name`` as an [out, in] matrix sharing its storage.

    ``nn.Linear``: the weight itself. GPT-2's ``Conv1D`` (weight [in, out]): its transpose, a
    view, so ``W @ k`` is the layer's map and ``W.copy_(new)`` (under ``torch.no_grad``)
    writes the stored weight in its own orientation.
    """
    mod = get_module(model, name)
    w = getattr(mod, "weight", None)
    if (
        not isinstance(w, torch.nn.Parameter)
        or w.dim() != 2
        or not isinstance(mod, torch.nn.Linear | Conv1D)
    ):
        raise ConfigError(
            "paths",
            f"{name!r} is not a linear layer with an [out, in] weight",
            "point the template at an nn.Linear (or transformers Conv1D) module",
        )
    return w.T if isinstance(mod, Conv1D) else w


def stored_transposed(model: torch.nn.Module, name: str) -> bool:
    """Whether module ``name`` stores its weight [in, out] (GPT-2's Conv1D; PEFT's
    ``fan_in_fan_out``)."""
    return isinstance(get_module(model, name), Conv1D)


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
