"""LitGPT checkpoints <-> behemoth (Hugging Face GPT-NeoX) model directories.

A LitGPT checkpoint directory holds ``lit_model.pth`` (a state dict, or LitGPT's training
state ``{"model": state_dict, ...}``) and ``model_config.yaml`` (its ``Config`` fields). It is
read with ``torch.load(weights_only=True)`` and ``yaml.safe_load``: tensors and plain data
only, never pickled code; LitGPT itself is not needed to convert.

Parameter names map one to one (LitGPT ``transformer.h.{i}.attn.qkv`` is HF
``gpt_neox.layers.{i}.attention.query_key_value``, and so on, :data:`_NAMES`). One tensor
changes layout: the fused query/key/value projection. Rows of HF GPT-NeoX's are grouped per
head, ``[q_0, k_0, v_0, q_1, k_1, v_1, ...]`` (its attention views the output as
``[heads, 3 * head_size]`` and chunks it), while LitGPT >= 0.5 stores all queries, then all
keys, then all values, ``[q_0 .. q_{H-1}, k_0 .. k_{H-1}, v_0 .. v_{H-1}]``. Older LitGPT
checkpoints name it ``attn.attn`` and keep the per-head order; both are read.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

import torch
import yaml
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from behemoth.errors import BehemothError
from behemoth.io import atomic_dir, read_json, write_json
from behemoth.model.export import FORMAT, FORMAT_VERSION, META, TOKENIZER_FILES
from behemoth.model.litgpt_config import geometry, hf_to_litgpt, litgpt_to_hf
from behemoth.provenance import write_provenance
from behemoth.world.world import World

WEIGHTS = "lit_model.pth"
CONFIG = "model_config.yaml"

#: LitGPT name -> HF name; ``{}`` is the layer index.
_NAMES = {
    "transformer.wte.weight": "gpt_neox.embed_in.weight",
    "transformer.ln_f.weight": "gpt_neox.final_layer_norm.weight",
    "transformer.ln_f.bias": "gpt_neox.final_layer_norm.bias",
    "lm_head.weight": "embed_out.weight",
    "transformer.h.{}.norm_1.weight": "gpt_neox.layers.{}.input_layernorm.weight",
    "transformer.h.{}.norm_1.bias": "gpt_neox.layers.{}.input_layernorm.bias",
    "transformer.h.{}.norm_2.weight": "gpt_neox.layers.{}.post_attention_layernorm.weight",
    "transformer.h.{}.norm_2.bias": "gpt_neox.layers.{}.post_attention_layernorm.bias",
    "transformer.h.{}.attn.qkv.weight": "gpt_neox.layers.{}.attention.query_key_value.weight",
    "transformer.h.{}.attn.qkv.bias": "gpt_neox.layers.{}.attention.query_key_value.bias",
    "transformer.h.{}.attn.proj.weight": "gpt_neox.layers.{}.attention.dense.weight",
    "transformer.h.{}.attn.proj.bias": "gpt_neox.layers.{}.attention.dense.bias",
    "transformer.h.{}.mlp.fc.weight": "gpt_neox.layers.{}.mlp.dense_h_to_4h.weight",
    "transformer.h.{}.mlp.fc.bias": "gpt_neox.layers.{}.mlp.dense_h_to_4h.bias",
    "transformer.h.{}.mlp.proj.weight": "gpt_neox.layers.{}.mlp.dense_4h_to_h.weight",
    "transformer.h.{}.mlp.proj.bias": "gpt_neox.layers.{}.mlp.dense_4h_to_h.bias",
}
#: The output head's HF name: ``lm_head`` in transformers >= 5, ``embed_out`` before.
_HEAD_NAMES = ("lm_head.weight", "embed_out.weight")
_LEGACY_QKV = re.compile(r"^transformer\.h\.(\d+)\.attn\.attn\.(weight|bias)$")
_LAYER = re.compile(r"\.(\d+)\.")


def qkv_litgpt_to_hf(t: torch.Tensor, heads: int) -> torch.Tensor:
    """[Q; K; V] (each [heads * hs, ...]) -> per-head [q_h; k_h; v_h] rows (weight or bias)."""
    rest = t.shape[1:]
    # [3 * heads * hs, *rest] -> [3, heads, hs, *rest] -> [heads, 3, hs, *rest]
    return t.reshape(3, heads, -1, *rest).transpose(0, 1).reshape(t.shape).contiguous()


def qkv_hf_to_litgpt(t: torch.Tensor, heads: int) -> torch.Tensor:
    """Per-head [q_h; k_h; v_h] rows -> [Q; K; V], the inverse of :func:`qkv_litgpt_to_hf`."""
    rest = t.shape[1:]
    # [heads * 3 * hs, *rest] -> [heads, 3, hs, *rest] -> [3, heads, hs, *rest]
    return t.reshape(heads, 3, -1, *rest).transpose(0, 1).reshape(t.shape).contiguous()


def _template(name: str) -> tuple[str, str | None]:
    m = _LAYER.search(name)
    if m is None:
        return name, None
    return name[: m.start()] + ".{}." + name[m.end() :], m.group(1)


def read_litgpt(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor], Path]:
    """``(config fields, state dict, weights file)`` of a LitGPT checkpoint (dir or .pth)."""
    p = Path(path)
    weights = p / WEIGHTS if p.is_dir() else p
    config = weights.parent / CONFIG
    for f, what in ((weights, "weights"), (config, "config")):
        if not f.is_file():
            raise BehemothError(
                f"CHECKPOINT: no {what} file {f}; give a LitGPT checkpoint directory holding "
                f"{WEIGHTS} and {CONFIG}"
            )
    lit = yaml.load(config.read_text(), Loader=_ConfigLoader)  # noqa: S506  # safe subclass
    if not isinstance(lit, dict):
        raise BehemothError(f"CHECKPOINT: {config} is not a mapping of LitGPT Config fields")
    try:
        obj = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling refused or corrupt file: one line, no traceback
        raise BehemothError(
            f"CHECKPOINT: {weights} does not load as tensors only ({type(e).__name__}: "
            f"{str(e).splitlines()[0][:200]}); save the model's state_dict with torch.save"
        ) from None
    state = obj.get("model", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BehemothError(
            f"CHECKPOINT: {weights} holds no state dict (want name -> tensor, or {{'model': ...}})"
        )
    return lit, state, weights


class _ConfigLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that also reads the ``!!python/tuple`` LitGPT's ``yaml.dump`` writes."""


_ConfigLoader.add_constructor(
    "tag:yaml.org,2002:python/tuple",
    lambda loader, node: list(loader.construct_sequence(node)),  # type: ignore[arg-type]
)


def litgpt_state_to_hf(state: dict[str, torch.Tensor], heads: int) -> dict[str, torch.Tensor]:
    """LitGPT parameter names and layout -> HF GPT-NeoX's (new tensors; input untouched)."""
    out: dict[str, torch.Tensor] = {}
    for name, t in state.items():
        name = name.removeprefix("_orig_mod.")  # a torch.compile'd module's state dict
        legacy = _LEGACY_QKV.match(name)
        if legacy:  # older LitGPT: already HF's per-head order
            out[f"gpt_neox.layers.{legacy[1]}.attention.query_key_value.{legacy[2]}"] = t.clone()
            continue
        tmpl, layer = _template(name)
        if tmpl not in _NAMES:
            raise BehemothError(
                f"CHECKPOINT: unexpected parameter {name!r}; only Pythia-shaped (GPT-NeoX) "
                "LitGPT models convert"
            )
        hf = _NAMES[tmpl].format(layer)
        out[hf] = qkv_litgpt_to_hf(t, heads) if ".attn.qkv." in name else t.clone()
    return out


def hf_state_to_litgpt(state: dict[str, torch.Tensor], heads: int) -> dict[str, torch.Tensor]:
    """HF GPT-NeoX parameter names and layout -> LitGPT's (>= 0.5)."""
    back = {v: k for k, v in _NAMES.items()}
    back["lm_head.weight"] = "lm_head.weight"
    out: dict[str, torch.Tensor] = {}
    for name, t in state.items():
        tmpl, layer = _template(name)
        if tmpl not in back:
            if tmpl.endswith(("rotary_emb.inv_freq", "attention.bias", "attention.masked_bias")):
                continue  # buffers some transformers versions save
            raise BehemothError(f"MODEL: unexpected GPT-NeoX parameter {name!r}")
        lit = back[tmpl].format(layer)
        t = t.detach().to("cpu", torch.float32)
        out[lit] = qkv_hf_to_litgpt(t, heads) if ".query_key_value." in name else t.clone()
    return out


def litgpt_to_model(path: str | Path) -> tuple[GPTNeoXForCausalLM, dict[str, Any], Path]:
    """``(HF model in eval mode, LitGPT config, weights file)`` from a LitGPT checkpoint."""
    lit, state, weights = read_litgpt(path)
    cfg: GPTNeoXConfig = litgpt_to_hf(lit)
    hf_state = litgpt_state_to_hf(state, int(cfg.num_attention_heads))
    # The shapes the config implies, from a model on the meta device (no memory, no random
    # draws): a config far larger than its weights is refused before anything is allocated.
    with torch.device("meta"):
        want = {k: tuple(v.shape) for k, v in GPTNeoXForCausalLM(cfg).state_dict().items()}
    head = next(n for n in _HEAD_NAMES if n in want)
    hf_state[head] = hf_state.pop("embed_out.weight")
    missing = sorted(set(want) - set(hf_state))
    if missing:
        raise BehemothError(f"CHECKPOINT: {weights} lacks {missing[0]} (and {len(missing) - 1} "
                            "more); it is not a complete LitGPT GPT state dict")  # fmt: skip
    for name, t in hf_state.items():
        if name in want and tuple(t.shape) != want[name]:
            raise BehemothError(
                f"CHECKPOINT: {name} has shape {tuple(t.shape)} where model_config.yaml implies "
                f"{want[name]}; the config is not the weights' own"
            )
    with torch.random.fork_rng(devices=[]):  # construction draws from the global RNG
        model = GPTNeoXForCausalLM(cfg)
    model.load_state_dict({k: v.to(torch.float32) for k, v in hf_state.items()}, strict=True)
    model.eval()
    return model, lit, weights


def model_to_litgpt(
    model: GPTNeoXForCausalLM, vocab_size: int | None, name: str
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(LitGPT config fields, LitGPT state dict)`` of a GPT-NeoX model (not modified)."""
    lit = hf_to_litgpt(model.config, vocab_size, name)
    geometry(lit)  # the fields just written are consistent
    state = hf_state_to_litgpt(model.state_dict(), int(model.config.num_attention_heads))
    return lit, state


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def convert_litgpt(
    checkpoint: str | Path, world: World, out: str | Path, *, force: bool = False
) -> Path:
    """Write a LitGPT checkpoint as a behemoth model directory of ``world`` (all or nothing).

    The directory is a plain HF GPT-NeoX one (``from_pretrained`` loads it) with the world's
    tokenizer and ``behemoth_model.json`` naming the world, so ``behemoth evaluate`` and
    ``behemoth edit`` use it like a model trained here.
    """
    model, lit, weights = litgpt_to_model(checkpoint)
    rows = int(model.config.vocab_size)
    top = max((int(p.tokens.max(initial=0)) for p in world.probes.values()), default=0)
    top = max([top] + [int(p.answer.max(initial=0)) for p in world.probes.values()])
    if top >= rows:
        raise BehemothError(
            f"--world: the world's probes use token id {top} but the model has {rows} "
            "embedding rows; give the world the model was trained on (import-reference keeps "
            "the reference's ids)"
        )
    inputs = {"CHECKPOINT": checkpoint, "--world": world.path}
    meta = {
        "world": {"path": str(world.path.resolve()), "fingerprint": world.fingerprint},
        "seed": None,
        "config": {"litgpt": lit},
        "vocab_size": world.vocab_size,
        "params": sum(p.numel() for p in model.parameters()),
        "result": {"stopped": "converted from a LitGPT checkpoint"},
        "converted_from": {
            "format": "litgpt",
            "path": str(weights.resolve()),
            "sha256": file_sha256(weights),
        },
    }
    with atomic_dir(out, force=force, marker=META, what="a model", inputs=inputs) as tmp:
        model.config.use_cache = True  # generation downstream, as export_model writes it
        model.save_pretrained(str(tmp), safe_serialization=True)
        for name in TOKENIZER_FILES:
            if (world.path / name).is_file():
                shutil.copyfile(world.path / name, tmp / name)
        write_json(tmp / META, {"format": FORMAT, "format_version": FORMAT_VERSION, **meta})
        write_provenance(tmp, {"converted_from": meta["converted_from"]})
    return Path(out)


def export_litgpt(model_dir: str | Path, out: str | Path, *, force: bool = False) -> Path:
    """Write a behemoth (or any HF GPT-NeoX) model directory as a LitGPT checkpoint directory:
    ``lit_model.pth`` (a plain state dict), ``model_config.yaml`` and the tokenizer files.

    ``litgpt.GPT(Config.from_file(dir / "model_config.yaml")).load_state_dict(torch.load(
    dir / "lit_model.pth"))`` restores it.
    """
    d = Path(model_dir)
    if not (d / "config.json").is_file():
        raise BehemothError(f"MODEL: {d} has no config.json; give a model directory")
    vocab_size = None
    if (d / META).is_file():
        vocab_size = read_json(d / META).get("vocab_size")
    model = GPTNeoXForCausalLM.from_pretrained(str(d), dtype=torch.float32)
    lit, state = model_to_litgpt(model, vocab_size, name=f"behemoth-{d.resolve().name}")
    with atomic_dir(
        out, force=force, marker=WEIGHTS, what="a LitGPT checkpoint", inputs={"MODEL": d}
    ) as tmp:
        torch.save(state, tmp / WEIGHTS)
        (tmp / CONFIG).write_text(yaml.safe_dump(lit, sort_keys=True))
        for name in TOKENIZER_FILES:
            if (d / name).is_file():
                shutil.copyfile(d / name, tmp / name)
    return Path(out)
