"""Typed configs of a training run: the model's geometry and the training recipe.

A run config has three parts, each overridable with ``--set``: ``seed``, ``model.*`` (the
GPT-NeoX geometry; the vocabulary always comes from the world's tokenizer) and ``train.*``
(optimizer, schedule, data, evaluation, early stopping, checkpoints).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from behemoth.config import StrictConfig, resolve
from behemoth.errors import ConfigError


class ModelConfig(StrictConfig):
    """A Pythia-shaped GPT-NeoX (Biderman et al. 2023, "Pythia", Table 1 geometries)."""

    layers: int = Field(6, ge=1, description="Transformer blocks.")
    width: int = Field(256, ge=8, description="Hidden size d_model.")
    heads: int = Field(8, ge=1, description="Attention heads; must divide width.")
    mlp: int = Field(1024, ge=1, description="MLP inner size (Pythia: 4 x width).")
    rotary_pct: float = Field(
        0.25, gt=0.0, le=1.0, description="Share of each head's dims that get rotary embeddings."
    )
    rotary_base: float = Field(10000.0, gt=0.0, description="Rotary embedding base (theta).")
    parallel_residual: bool = Field(
        True, description="x + attn(ln1(x)) + mlp(ln2(x)) (GPT-J/Pythia) instead of sequential."
    )
    max_position: int = Field(2048, ge=8, description="Longest sequence the model accepts.")
    tie_embeddings: bool = Field(
        False, description="Share input embedding and output head (Pythia: no)."
    )
    layer_norm_eps: float = Field(1e-5, gt=0.0, description="LayerNorm epsilon.")
    init_std: float = Field(0.02, gt=0.0, description="Std of the normal weight initialization.")
    attention: Literal["sdpa", "eager"] = Field("sdpa", description="Attention implementation.")

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if self.width % self.heads:
            raise ConfigError(
                "model.heads",
                f"{self.heads} does not divide width={self.width}",
                "choose heads as a divisor of model.width",
            )
        head_dim = self.width // self.heads
        if int(head_dim * self.rotary_pct) < 2:
            raise ConfigError(
                "model.rotary_pct",
                f"{self.rotary_pct} of head_dim={head_dim} is under 2 dims",
                "raise model.rotary_pct or use fewer, wider heads",
            )
        return self


class TrainConfig(StrictConfig):
    """The training recipe: AdamW, linear warmup + cosine decay, clipping, early stopping."""

    seq_len: int = Field(32, ge=2, description="Tokens per training sequence (documents packed).")
    batch_size: int = Field(
        64, ge=1, description="Sequences per optimizer step (global, all devices)."
    )
    max_tokens: int = Field(
        5_000_000, ge=1, description="Token budget; sets the schedule's length."
    )
    lr: float = Field(2e-3, gt=0.0, description="Peak learning rate.")
    min_lr_ratio: float = Field(0.1, ge=0.0, le=1.0, description="Final learning rate / peak.")
    embedding_lr_scale: float = Field(
        1.0,
        gt=0.0,
        le=100.0,
        description="The input embedding's learning rate / lr (its rows are the subjects the "
        "facts are about; a larger rate speeds their memorization).",
    )
    warmup_steps: int = Field(100, ge=0, description="Linear warmup steps.")
    weight_decay: float = Field(
        0.0, ge=0.0, description="AdamW decoupled weight decay (matrices only)."
    )
    beta1: float = Field(0.9, ge=0.0, lt=1.0, description="AdamW beta1.")
    beta2: float = Field(0.95, ge=0.0, lt=1.0, description="AdamW beta2.")
    eps: float = Field(1e-8, gt=0.0, description="AdamW epsilon.")
    grad_clip: float = Field(1.0, ge=0.0, description="Max global gradient norm (0 = off).")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="bf16 autocast or fp32; auto = bf16 on GPUs that support it, fp32 on CPU.",
    )
    data: Literal["stream", "shards"] = Field(
        "stream", description="Render the corpus on the fly, or read the world's written shards."
    )
    eval_every: int = Field(200, ge=1, description="Steps between evaluations on the probes.")
    eval_sets: list[str] | None = Field(
        None,
        description="Probe sets evaluated every eval_every steps besides the target set (null = "
        "all of the world's, [] = the target set only); all are evaluated once at the end.",
    )
    eval_batch_size: int = Field(2048, ge=1, description="Prompts per evaluation forward pass.")
    target_set: str | None = Field(
        None, description="Probe set for early stopping (null = the world's training template)."
    )
    target_accuracy: float | None = Field(
        0.99,
        gt=0.0,
        le=1.0,
        description="Stop when target_set reaches this accuracy (null = never).",
    )
    checkpoint_every: int = Field(1000, ge=1, description="Steps between resumable checkpoints.")
    threads: int | None = Field(
        None,
        ge=1,
        description="torch CPU threads of training: exactly this many (the count sets the "
        "order of float sums, so the weights); null = chosen from the free cores; --threads "
        "overrides.",
    )
    log: Literal["tensorboard", "wandb"] | None = Field(
        None,
        exclude=True,
        description="Log the training curves (loss, lr, tokens/s, probe accuracies) to "
        "TensorBoard or Weights & Biases (offline) (null = off; --log BACKEND [DIR] "
        "overrides). Changes no weight, so it is no part of the model's identity: never saved "
        "with the config, never in a cache key (behemoth.tracking).",
    )
    log_dir: str | None = Field(
        None,
        exclude=True,
        description="Where train.log writes (null = <out>.<backend> beside the model "
        "directory); like train.log, never part of the model's identity.",
    )
    reproducible: bool = Field(
        False,
        description="Train in the mode whose weights are bitwise identical on every x86-64 "
        "CPU and at every load: one thread, ATen's portable kernels, MKL's compatible branch, "
        "oneDNN off (behemoth.threads.training_threads); slower, measured in "
        "bench/bench_reproducible.py.",
    )

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.seq_len

    @property
    def total_steps(self) -> int:
        return max(1, -(-self.max_tokens // self.tokens_per_step))


class RunConfig(StrictConfig):
    """Everything that determines a trained model, given its world."""

    seed: int = Field(0, ge=0, description="Seeds the weight initialization.")
    data_seed: int = Field(
        0,
        ge=0,
        description="The order of the training stream: 0 = the world's own (the order its "
        "shards hold), another value = another permutation of the same documents. A trained "
        "replicate differs from its siblings in both seeds.",
    )
    model: ModelConfig = Field(default_factory=lambda: ModelConfig.model_validate({}))
    train: TrainConfig = Field(default_factory=lambda: TrainConfig.model_validate({}))

    @model_validator(mode="after")
    def _check(self) -> RunConfig:
        if self.train.seq_len > self.model.max_position:
            raise ConfigError(
                "train.seq_len",
                f"{self.train.seq_len} exceeds model.max_position={self.model.max_position}",
                "lower train.seq_len or raise model.max_position",
            )
        if self.train.warmup_steps >= self.train.total_steps and self.train.total_steps > 1:
            raise ConfigError(
                "train.warmup_steps",
                f"{self.train.warmup_steps} warmup steps is not below the "
                f"{self.train.total_steps} steps of train.max_tokens",
                "lower train.warmup_steps or raise train.max_tokens",
            )
        if self.data_seed and self.train.data == "shards":
            raise ConfigError(
                "data_seed",
                f"{self.data_seed} asks for another data order, but shards hold the world's own",
                "use train.data=stream or data_seed=0",
            )
        return self

    def replicate(self, index: int) -> RunConfig:
        """Replicate ``index`` of this recipe: weight initialization and data order both shifted
        by ``index`` (replicate 0 is the recipe itself). Replicates are the unit of replication
        of every finding (a model trained once more, not an edit repeated)."""
        if index < 0:
            raise ConfigError("replicates", f"index {index} is negative", "count from 0")
        if not index:
            return self
        d = self.to_dict()
        d["seed"], d["data_seed"] = self.seed + index, self.data_seed + index
        return RunConfig.model_validate(d)


def resolve_run(
    preset: dict[str, Any] | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | None = None,
    seed: int | None = None,
) -> RunConfig:
    """:func:`behemoth.config.resolve` for a :class:`RunConfig`, with "did you mean" hints for
    misspelled nested keys (``train.lrr`` -> ``train.lr``)."""
    try:
        return resolve(RunConfig, preset, config_file, overrides, seed)
    except ConfigError as e:
        parts = e.field.split(".")
        if e.problem == "unknown key" and len(parts) == 2 and parts[0] in ("model", "train"):
            section = ModelConfig if parts[0] == "model" else TrainConfig
            hint = difflib.get_close_matches(parts[1], list(section.model_fields), n=1)
            fix = (
                f"did you mean {parts[0]}.{hint[0]!r}?"
                if hint
                else f"known keys: {', '.join(section.model_fields)}"
            )
            raise ConfigError(e.field, e.problem, fix) from None
        raise
