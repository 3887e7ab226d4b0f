"""LitGPT's model config <-> transformers' ``GPTNeoXConfig``, for Pythia-shaped models only.

LitGPT (Lightning-AI/litgpt) describes a model by a ``Config`` dataclass saved as
``model_config.yaml``; its Pythia entries are GPT-NeoX (Black et al. 2022): LayerNorm with
biases, a parallel residual (``x + attn(ln1(x)) + mlp(ln2(x))``), rotary embeddings on the
first ``rotary_percentage`` of each head (rotate-half convention, as in HF), an exact-GELU MLP
and an untied output head without bias. LitGPT can express more than GPT-NeoX can hold
(grouped queries, RMSNorm, soft-capping, ...): those settings are refused by name here rather
than silently dropped, so a converted model computes what the LitGPT model computed.

The mapping, field by field (LitGPT -> HF): ``n_layer`` -> ``num_hidden_layers``, ``n_embd`` ->
``hidden_size``, ``n_head`` -> ``num_attention_heads``, ``intermediate_size`` (same),
``block_size`` -> ``max_position_embeddings``, ``norm_eps`` -> ``layer_norm_eps``,
``parallel_residual`` -> ``use_parallel_residual``, ``rotary_percentage`` / ``rope_base`` ->
``rope_parameters`` (``partial_rotary_factor`` / ``rope_theta``), ``gelu_approximate``
(``none`` / ``tanh``) -> ``hidden_act`` (``gelu`` / ``gelu_pytorch_tanh``), and
``padded_vocab_size`` (the embedding's rows) -> ``vocab_size``.
"""

from __future__ import annotations

from typing import Any

from transformers import GPTNeoXConfig

from behemoth.errors import BehemothError
from behemoth.world.vocab import EOT, PAD

#: LitGPT settings a GPT-NeoX model cannot hold, with the only value accepted (their default
#: when absent from the file). ``None`` for n_query_groups / attention_scores_scalar is checked
#: separately (it means "as many as heads" / "1/sqrt(head_size)").
_FIXED: dict[str, Any] = {
    "norm_class_name": "LayerNorm",
    "mlp_class_name": "GptNeoxMLP",
    "bias": True,
    "lm_head_bias": False,
    "shared_attention_norm": False,
    "norm_qk": False,
    "post_attention_norm": False,
    "post_mlp_norm": False,
    "norm_1": True,
    "norm_2": True,
    "scale_embeddings": False,
    "n_expert": 0,
    "sliding_window_size": None,
    "attention_logit_softcapping": None,
    "final_logit_softcapping": None,
    "rope_condense_ratio": 1,
    "rope_adjustments": None,
    "rope_interleave": False,
    "rope_indices": None,
    "latent_attention": None,
}
_GELU = {"none": "gelu", "tanh": "gelu_pytorch_tanh"}
_REQUIRED = ("n_layer", "n_embd", "n_head", "block_size", "intermediate_size")


def _bad(field: str, problem: str, fix: str) -> BehemothError:
    return BehemothError(f"model_config.yaml: {field}: {problem}; {fix}")


def geometry(lit: dict[str, Any]) -> dict[str, int]:
    """The validated sizes of a LitGPT config: layers, width, heads, head_size, mlp, vocab."""
    for key in _REQUIRED:
        if not isinstance(lit.get(key), int):
            raise _bad(key, "missing or not an integer", "write LitGPT's own model_config.yaml")
    heads, width = int(lit["n_head"]), int(lit["n_embd"])
    head_size = int(lit.get("head_size") or width // heads)
    if head_size * heads != width:
        raise _bad("head_size", f"{head_size} x {heads} heads != n_embd {width}", "GPT-NeoX "
                   "needs head_size = n_embd / n_head")  # fmt: skip
    groups = lit.get("n_query_groups")
    if groups not in (None, heads):
        raise _bad("n_query_groups", f"{groups} (grouped queries)", "GPT-NeoX needs n_head groups")
    scalar = lit.get("attention_scores_scalar")
    if scalar not in (None, head_size):
        raise _bad("attention_scores_scalar", str(scalar), "GPT-NeoX scales by 1/sqrt(head_size)")
    padded = lit.get("padded_vocab_size")
    vocab = lit.get("vocab_size")
    if not isinstance(padded, int) and isinstance(vocab, int):
        multiple = int(lit.get("padding_multiple", 512))
        padded = -(-vocab // multiple) * multiple
    if not isinstance(padded, int) or padded <= 0:
        raise _bad("padded_vocab_size", "missing", "write LitGPT's own model_config.yaml")
    return {
        "layers": int(lit["n_layer"]),
        "width": width,
        "heads": heads,
        "head_size": head_size,
        "mlp": int(lit["intermediate_size"]),
        "padded_vocab": padded,
        "vocab": int(vocab) if isinstance(vocab, int) else padded,
    }


def litgpt_to_hf(lit: dict[str, Any]) -> GPTNeoXConfig:
    """The GPT-NeoX config computing what LitGPT's ``GPT(Config(**lit))`` computes."""
    for key, want in _FIXED.items():
        got = lit.get(key, want)
        if got != want and not (want is False and got is None):
            raise _bad(key, f"{got!r}", f"GPT-NeoX (Pythia) holds only {want!r}")
    if lit.get("gelu_approximate", "none") not in _GELU:
        raise _bad("gelu_approximate", repr(lit.get("gelu_approximate")), "use 'none' or 'tanh'")
    g = geometry(lit)
    return GPTNeoXConfig(  # type: ignore[call-arg]
        vocab_size=g["padded_vocab"],
        hidden_size=g["width"],
        num_hidden_layers=g["layers"],
        num_attention_heads=g["heads"],
        intermediate_size=g["mlp"],
        hidden_act=_GELU[lit.get("gelu_approximate", "none")],
        max_position_embeddings=int(lit["block_size"]),
        layer_norm_eps=float(lit.get("norm_eps", 1e-5)),
        use_parallel_residual=bool(lit.get("parallel_residual", True)),
        tie_word_embeddings=False,
        attention_bias=True,
        rope_parameters={
            "rope_type": "default",
            "rope_theta": float(lit.get("rope_base", 10000)),
            "partial_rotary_factor": float(lit.get("rotary_percentage", 0.25)),
        },
        attention_dropout=0.0,
        hidden_dropout=0.0,
        bos_token_id=EOT,
        eos_token_id=EOT,
        pad_token_id=PAD,
        use_cache=False,
    )


def hf_to_litgpt(cfg: Any, vocab_size: int | None, name: str) -> dict[str, Any]:
    """LitGPT's ``Config`` fields for a GPT-NeoX config (``Config(**result)`` builds it).

    ``vocab_size`` is the tokenizer's size (LitGPT keeps it apart from the padded embedding
    rows); ``None`` takes the embedding's rows.
    """
    if getattr(cfg, "model_type", None) != "gpt_neox":
        raise BehemothError(
            f"MODEL: a {getattr(cfg, 'model_type', '?')} model; only GPT-NeoX (Pythia) converts"
        )
    act = {v: k for k, v in _GELU.items()}.get(cfg.hidden_act)
    if act is None:
        raise BehemothError(
            f"MODEL: hidden_act {cfg.hidden_act!r} has no LitGPT equivalent; use gelu"
        )
    if not getattr(cfg, "attention_bias", True):
        raise BehemothError("MODEL: attention_bias=False has no LitGPT Pythia equivalent")
    rope = dict(getattr(cfg, "rope_parameters", None) or {})
    if rope.get("rope_type", "default") != "default":
        raise BehemothError(f"MODEL: rope_type {rope['rope_type']!r}; only 'default' converts")
    rows = int(cfg.vocab_size)
    theta = rope.get("rope_theta", 10000)
    return {
        "name": name,
        "block_size": int(cfg.max_position_embeddings),
        "vocab_size": min(int(vocab_size), rows) if vocab_size else rows,
        "padded_vocab_size": rows,
        "padding_multiple": 1,
        "n_layer": int(cfg.num_hidden_layers),
        "n_embd": int(cfg.hidden_size),
        "n_head": int(cfg.num_attention_heads),
        "n_query_groups": int(cfg.num_attention_heads),
        "head_size": int(cfg.hidden_size) // int(cfg.num_attention_heads),
        "intermediate_size": int(cfg.intermediate_size),
        "rotary_percentage": float(rope.get("partial_rotary_factor", 0.25)),
        "rope_base": int(theta) if float(theta).is_integer() else float(theta),
        "parallel_residual": bool(cfg.use_parallel_residual),
        "shared_attention_norm": False,
        "bias": True,
        "lm_head_bias": False,
        "norm_class_name": "LayerNorm",
        "norm_eps": float(cfg.layer_norm_eps),
        "mlp_class_name": "GptNeoxMLP",
        "gelu_approximate": act,
    }
