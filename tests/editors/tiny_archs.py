"""Tiny randomly initialized causal LMs of several architectures, built from transformers
configs (nothing is downloaded), with a world's vocabulary so its prompts and corpus apply.

Two blocks, width 32: enough to have a first and a last layer, small enough that every weight
editor runs on each in seconds. Dropout is off, so training steps depend only on the seed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    PretrainedConfig,
    PreTrainedModel,
    Qwen2Config,
    Qwen2ForCausalLM,
)

LAYERS, WIDTH, HEADS, POSITIONS = 2, 32, 4, 128


def _gpt2(vocab: int) -> PretrainedConfig:
    # Conv1D projections (weights stored [in, out]), tied embeddings, learned positions.
    return GPT2Config(
        vocab_size=vocab,
        n_positions=POSITIONS,
        n_embd=WIDTH,
        n_layer=LAYERS,
        n_head=HEADS,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        use_cache=False,
    )


def _llama(vocab: int) -> PretrainedConfig:
    # Gated MLP (down_proj's input is silu(gate) * up), grouped-query attention, RMSNorm.
    return LlamaConfig(
        vocab_size=vocab,
        hidden_size=WIDTH,
        intermediate_size=2 * WIDTH,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=HEADS // 2,
        max_position_embeddings=POSITIONS,
        use_cache=False,
    )


def _qwen2(vocab: int) -> PretrainedConfig:
    # Llama's module names, plus biases on q/k/v.
    return Qwen2Config(
        vocab_size=vocab,
        hidden_size=WIDTH,
        intermediate_size=2 * WIDTH,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=HEADS // 2,
        max_position_embeddings=POSITIONS,
        use_cache=False,
    )


def _gpt_neox(vocab: int) -> PretrainedConfig:
    # The architecture of the models trained here (parallel residual, fused query_key_value).
    return GPTNeoXConfig(
        vocab_size=vocab,
        hidden_size=WIDTH,
        intermediate_size=4 * WIDTH,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        max_position_embeddings=POSITIONS,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        use_cache=False,
    )


ARCHS: dict[str, tuple[Callable[[int], PretrainedConfig], type[PreTrainedModel]]] = {
    "gpt2": (_gpt2, GPT2LMHeadModel),
    "llama": (_llama, LlamaForCausalLM),
    "qwen2": (_qwen2, Qwen2ForCausalLM),
    "gpt_neox": (_gpt_neox, GPTNeoXForCausalLM),
}


def tiny_model(arch: str, vocab_size: int, seed: int = 0) -> PreTrainedModel:
    """A randomly initialized ``arch`` model (fp32, CPU, eval mode); the global RNG is left as
    it was."""
    make_config, cls = ARCHS[arch]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(make_config(vocab_size))
    return model.eval()
