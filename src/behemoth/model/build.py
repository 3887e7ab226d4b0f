"""Build a Pythia-shaped ``GPTNeoXForCausalLM`` from a :class:`ModelConfig` and a world.

The model is plain Hugging Face transformers (Pythia *is* GPT-NeoX), so every trained model is
an ordinary HF model directory. Weights are initialized here from an explicit
``torch.Generator`` seeded by the run seed, not from torch's global RNG, so the same seed gives
the same initial weights whatever ran before in the process.
"""

from __future__ import annotations

import math

import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from behemoth.model.config import ModelConfig
from behemoth.world.rng import stream_key
from behemoth.world.vocab import EOT, PAD


def hf_config(cfg: ModelConfig, vocab_size: int) -> GPTNeoXConfig:
    """The transformers config of this geometry with the world's vocabulary."""
    return GPTNeoXConfig(  # type: ignore[call-arg]  # attn_implementation: a PretrainedConfig kwarg
        vocab_size=vocab_size,
        hidden_size=cfg.width,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        intermediate_size=cfg.mlp,
        hidden_act="gelu",
        max_position_embeddings=cfg.max_position,
        initializer_range=cfg.init_std,
        layer_norm_eps=cfg.layer_norm_eps,
        use_parallel_residual=cfg.parallel_residual,
        tie_word_embeddings=cfg.tie_embeddings,
        rope_parameters={
            "rope_type": "default",
            "rope_theta": cfg.rotary_base,
            "partial_rotary_factor": cfg.rotary_pct,
        },
        attention_dropout=0.0,
        hidden_dropout=0.0,
        bos_token_id=EOT,
        eos_token_id=EOT,
        pad_token_id=PAD,
        use_cache=False,
        attn_implementation=cfg.attention,
    )


@torch.no_grad()
def init_weights(model: GPTNeoXForCausalLM, cfg: ModelConfig, generator: torch.Generator) -> None:
    """Normal(0, init_std) for embeddings and linear maps, zero biases, unit LayerNorms.

    The two projections that write into the residual stream (attention ``dense`` and MLP
    ``dense_4h_to_h``) are scaled by 1/sqrt(2 * layers), as in GPT-2 (Radford et al. 2019,
    section 2.3), so the residual's variance does not grow with depth.
    """
    out_std = cfg.init_std / math.sqrt(2 * cfg.layers)
    for name, p in model.named_parameters():
        if name.endswith(".bias"):
            p.zero_()
        elif "layernorm" in name or "layer_norm" in name:
            p.fill_(1.0)
        elif name.endswith("attention.dense.weight") or name.endswith("dense_4h_to_h.weight"):
            p.normal_(0.0, out_std, generator=generator)
        else:
            p.normal_(0.0, cfg.init_std, generator=generator)


def build_model(cfg: ModelConfig, vocab_size: int, seed: int) -> GPTNeoXForCausalLM:
    """A freshly initialized model (fp32, CPU) for a world with ``vocab_size`` tokens."""
    # transformers initializes with the global RNG while constructing; fork it so the caller's
    # global state is untouched, then re-initialize from our own generator.
    with torch.random.fork_rng(devices=[]):
        model = GPTNeoXForCausalLM(hf_config(cfg, vocab_size))
    g = torch.Generator().manual_seed(int(stream_key(seed, "model-init")) & (2**63 - 1))
    init_weights(model, cfg, g)
    return model


def count_params(model: torch.nn.Module, embeddings: bool = True) -> int:
    """Parameters; without ``embeddings`` the input embedding (a lookup, no FLOPs) is left out."""
    n = sum(p.numel() for p in model.parameters())
    if not embeddings:
        n -= model.get_input_embeddings().weight.numel()  # type: ignore[operator]
    return n


def train_flops_per_token(cfg: ModelConfig, vocab_size: int, seq_len: int) -> float:
    """Training FLOPs per token: 6 N + 6 L T d (Kaplan et al. 2020, "Scaling laws", Table 1).

    N counts the non-embedding weights plus the output head (a matmul); the second term is the
    attention scores and weighted values over a context of T tokens (full, not halved for the
    causal mask, as in the paper).
    """
    d, L = cfg.width, cfg.layers
    per_layer = 4 * d * d + 2 * d * cfg.mlp  # qkv + out projection, MLP up + down
    n = L * per_layer + d * vocab_size
    return 6.0 * n + 6.0 * L * seq_len * d
