"""SERAC's settings: the networks' shape, their training recipe, and routing.

Loss weights are the paper's (Mitchell et al. 2022, Sec. 3.2 / App.: 0.1 x counterfactual NLL
+ 1.0 x class-balanced BCE of the classifier); the threshold is the authors' 0.5.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from behemoth.config import StrictConfig
from behemoth.editors.base import EditorConfig


class SeracNetsConfig(StrictConfig):
    """Shape and training of the scope classifier and the counterfactual model."""

    seed: int = Field(0, ge=0, description="Seed of the weights, the fixed tables and the pairs.")
    variant: Literal["embedding", "cross"] = Field(
        "embedding",
        description="Scope classifier: distance between embeddings, or a cross-encoder over edit [SEP] query.",
    )
    cross_head: Literal["pair", "mean"] = Field(
        "pair",
        description="Cross-encoder read-out: pair = compare the edit side with the query side "
        "([u, v, |u-v|, u*v] -> MLP); mean = one mean over the whole pair (format-1 networks).",
    )
    width: int = Field(64, ge=8, description="Hidden width of both networks.")
    layers: int = Field(1, ge=1, description="Transformer layers of each network.")
    heads: int = Field(4, ge=1, description="Attention heads.")
    embed_dim: int = Field(64, ge=4, description="Embedding size of the distance classifier.")
    max_len: int = Field(96, ge=8, description="Longest sequence the networks accept.")
    scratch_rows: int = Field(
        4096,
        ge=0,
        description="Spare random table rows that training swaps subjects for (generalization to unseen subjects).",
    )
    scratch_share: float = Field(
        0.5, ge=0.0, le=1.0, description="Share of training edits whose subject is swapped."
    )
    steps: int = Field(1500, ge=1, description="Training steps.")
    batch_edits: int = Field(
        32, ge=1, description="Edits per step (each with 2 positives, 3 negatives)."
    )
    lr: float = Field(1e-3, gt=0.0, description="Adam learning rate.")
    cf_weight: float = Field(0.1, ge=0.0, description="Weight of the counterfactual NLL.")
    cls_weight: float = Field(1.0, ge=0.0, description="Weight of the classifier's balanced BCE.")
    val_share: float = Field(
        0.1, ge=0.0, lt=1.0, description="Share of training subjects held out for validation."
    )
    formats: list[str] | None = Field(
        None,
        description="Prompt formats of the training pairs (edits and queries): null = every "
        "format of the world (statement templates, question, qa_new: the generalization test "
        "formats included, as the paper trains on paraphrases); e.g. [sro] = the edit's own "
        "format only, never a generalization format (like-for-like with weight editors).",
    )


class SeracConfig(EditorConfig):
    """The SERAC editor: trained networks (a ``behemoth train-serac`` output, or trained when
    the editor is prepared, on the run's retain mix) and the routing threshold."""

    nets: str | None = Field(
        None,
        description="Directory of trained networks (behemoth train-serac); null = train them at "
        "prepare time on the run's retain mix (the world's facts without one).",
    )
    threshold: float = Field(
        0.5, gt=0.0, lt=1.0, description="Route to the counterfactual model above this score."
    )
    train: SeracNetsConfig = Field(
        default_factory=lambda: SeracNetsConfig.model_validate({}),
        description="Networks trained when nets is null.",
    )
