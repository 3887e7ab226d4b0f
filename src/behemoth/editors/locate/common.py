"""What ROME, MEMIT and AlphaEdit share: where to edit, keys averaged over contexts, statistics.

``v_steps`` is 50, not the paper's 20: Adam's step (``v_lr``) is absolute, and on the
``tiny`` model, whose activations are 10-30x larger than in the prototype, 20 steps left a
third of single edits unreached; a request stops early once its NLL is below ``nll_stop``.

The edit token is a parameter: ``subject_last`` is ROME's site (the subject's last token,
found by causal tracing in GPT-2 XL), ``prompt_last`` the prompt's last token. In the shallow
parallel-residual models trained here the fact is retrieved at the last position, and edits
at the subject token mostly fail (docs/measurements.md), so ``prompt_last`` is the default.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field, model_validator

from behemoth.editors.base import EditorConfig
from behemoth.editors.context import EditContext
from behemoth.editors.locate.stats import second_moments
from behemoth.editors.prompts import PromptBatch, Token, context_prefixes
from behemoth.errors import ConfigError
from behemoth.model.hooks import hooked
from behemoth.model.layers import linear_weight
from behemoth.scenarios.testset import TestSet
from behemoth.world.world import World

#: The most corpus tokens a second-moment statistic may take (``mom2_n_tokens``).
MOM2_MAX_TOKENS = 10**9


class LocateEditConfig(EditorConfig):
    """Settings of the locate-then-edit family (ROME, MEMIT, AlphaEdit)."""

    token: Token = Field(
        "prompt_last", description="Edit position: subject_last (ROME's) or prompt_last."
    )
    n_prefixes: int = Field(
        10, ge=0, description="Random corpus contexts the key/value are averaged over."
    )
    prefix_lengths: list[int] = Field(
        default_factory=lambda: [5, 10], description="Their lengths in tokens."
    )
    v_steps: int = Field(50, ge=1, description="Adam steps of the target-vector optimization.")
    v_lr: float = Field(0.5, gt=0, description="Its learning rate.")
    kl_factor: float = Field(0.0625, ge=0, description="Weight of the KL (essence drift) term.")
    kl_prompts: Literal["other_relations", "subject", "none"] = Field(
        "other_relations",
        description="KL prompts: the subject's other relations, the bare subject, none.",
    )
    weight_decay: float = Field(0.05, ge=0, description="Weight of (|delta| / |v0|)^2.")
    clamp_norm_factor: float = Field(10.0, gt=0, description="Clamp |delta| <= factor * |v0|.")
    nll_stop: float = Field(0.05, ge=0, description="Stop a request's optimization below this NLL.")
    mom2_n_tokens: int | None = Field(
        None,
        ge=1,
        le=MOM2_MAX_TOKENS,
        description="Corpus tokens of the second-moment statistics; null = max(100000, "
        "400 x d_ff), so wide models get a well-conditioned C; at most 10^9 (already hours of "
        "forward passes: beyond, a typo starts a job of years).",
    )
    mom2_seq_len: int = Field(64, ge=2, description="Sequence length of those corpus batches.")
    solve_ridge: float = Field(
        1e-6,
        ge=0,
        description="Ridge of every linear solve, times the solved matrix's mean eigenvalue "
        "(trace / d); 0 = the papers' plain solve (see behemoth.editors.locate.solve).",
    )
    max_update_ratio: float = Field(
        1000.0,
        gt=0,
        description="Refuse an update whose norm exceeds this times the layer weight's norm "
        "(the layer is never written; ordinary edits measure 0.2-6, see locate/solve.py).",
    )

    @model_validator(mode="after")
    def _check_prefixes(self) -> LocateEditConfig:
        if self.n_prefixes and (not self.prefix_lengths or min(self.prefix_lengths) < 1):
            raise ConfigError(
                "prefix_lengths",
                "needs positive lengths when n_prefixes > 0",
                "e.g. prefix_lengths=[5,10]",
            )
        return self


def prefixes_for(
    cfg: LocateEditConfig, world: World, editor_facts: TestSet | None = None
) -> list[list[int]]:
    """The context prefixes of ``cfg``: documents of the run's editor facts (never tested)
    when it has them, else of the corpus (see :mod:`behemoth.editors.prompts`)."""
    return context_prefixes(world, cfg.n_prefixes, cfg.prefix_lengths, cfg.seed, editor_facts)


MOM2_TOKENS_PER_DFF = 400
"""Corpus tokens per key dimension of the second moments when ``mom2_n_tokens`` is null.

C is d_ff x d_ff; a sample of N keys estimates its small eigenvalues (the directions ROME,
MEMIT and AlphaEdit rely on) with a relative error of order sqrt(d_ff / N) when the keys are
independent, more when neighbouring tokens are correlated. The reference code's 100k samples
are 390 per dimension for the ``demo`` model (d_ff 256) but 49 for pythia-70m (2,048) and 33
for pythia-160m (3,072); 400 per dimension keeps the demo's ratio at every width."""


def mom2_tokens(cfg: LocateEditConfig, d_ff: int) -> int:
    """``cfg.mom2_n_tokens``, or max(100,000, MOM2_TOKENS_PER_DFF x d_ff) when it is null."""
    if cfg.mom2_n_tokens is not None:
        return cfg.mom2_n_tokens
    return max(100_000, MOM2_TOKENS_PER_DFF * d_ff)


@torch.no_grad()
def mean_keys(
    model: torch.nn.Module, modules: list[str], batch: PromptBatch, n_requests: int
) -> dict[str, torch.Tensor]:
    """Per module: the input at the edit position, averaged over each request's rows -> [n, d_in]
    (ROME, Sec. 3.1, Eq. 3: k* = mean_j k(x_j + s))."""
    dev = next(model.parameters()).device
    batch = batch.to(dev)
    was_training = model.training
    model.eval()
    with hooked(model, inputs=modules) as rec:
        model(input_ids=batch.ids)
    model.train(was_training)
    rows = torch.arange(len(batch), device=dev)
    out = {}
    for m in modules:
        k = rec.inputs[m][rows, batch.edit_pos].double()  # [rows, d_in]
        total = torch.zeros(n_requests, k.shape[1], dtype=k.dtype, device=dev).index_add(
            0, batch.request, k
        )
        count = torch.bincount(batch.request, minlength=n_requests).clamp_min(1).to(k.dtype)
        out[m] = total / count[:, None]
    return out


@torch.no_grad()
def typical_output_norm(
    model: torch.nn.Module, world: World, module: str, batches: int = 2
) -> float:
    """Mean norm of ``module``'s output over all positions of a few corpus batches."""
    sampler = world.sampler(64, 16)
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    norms = []
    for _ in range(batches):
        with hooked(model, outputs=[module]) as rec:
            model(input_ids=torch.from_numpy(sampler.next_batch()).to(dev))
        norms.append(rec.outputs[module].float().norm(dim=-1).mean())
    model.train(was_training)
    return float(torch.stack(norms).mean())


def stats_for(
    cfg: LocateEditConfig, model: torch.nn.Module, context: EditContext, modules: list[str]
) -> dict[str, torch.Tensor]:
    """C = E[k k^T] of each module's keys; the sample scales with the key width (see
    :data:`MOM2_TOKENS_PER_DFF`) unless ``mom2_n_tokens`` is set; kept in the context's cache
    (``<cache>/stats``) when it has one."""
    d_ff = max(int(linear_weight(model, m).shape[1]) for m in modules)
    return second_moments(
        model,
        context.world,
        modules,
        n_tokens=mom2_tokens(cfg, d_ff),
        seq_len=cfg.mom2_seq_len,
        cache_dir=context.cache_dir("stats"),
    )


def target_settings(cfg: LocateEditConfig) -> dict[str, Any]:
    """The value-optimization settings of ``cfg`` as ``optimize_targets`` keyword arguments."""
    return {
        "steps": cfg.v_steps,
        "lr": cfg.v_lr,
        "kl_factor": cfg.kl_factor,
        "weight_decay": cfg.weight_decay,
        "clamp_norm_factor": cfg.clamp_norm_factor,
        "nll_stop": cfg.nll_stop,
    }
