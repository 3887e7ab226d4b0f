"""The logit lens: what each layer's residual stream already predicts (nostalgebraist 2020,
"interpreting GPT: the logit lens", LessWrong).

The residual stream after block l (and the embeddings, "layer" ``embed``) at the last prompt
position is decoded as if it were the last layer's: the model's final layer norm, then its
unembedding, ``logits_l = W_U LN_f(h_l)``. Per layer: the probability of the true object under
``softmax(logits_l)``, its rank among all tokens (0 = top-1), and whether it is the top-1 token.
The last layer's lens is the model's own output (a test checks it). The residual stream is read
with scoped hooks (:func:`behemoth.model.hooks.hooked`) on the blocks, so nothing stays on the
model. Per fact and per layer arrays are kept; the summary is the mean probability, the share
of facts at rank 0 with its Wilson interval and the median rank, per layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from behemoth.model.hooks import hooked
from behemoth.model.layers import LayerPaths, get_module, resolve_paths

#: The final layer norm per layer-path preset (the module the head's input comes out of).
FINAL_NORM = {
    "gpt_neox.layers": "gpt_neox.final_layer_norm",
    "model.layers": "model.norm",
    "transformer.h": "transformer.ln_f",
}


@dataclass
class LensResult:
    """Per fact (rows) and per layer (columns: ``embed``, then each block) at the last prompt
    position: the true object's probability and rank (0 = top-1)."""

    layers: list[str]
    prob: np.ndarray  # [n, L + 1]
    rank: np.ndarray  # [n, L + 1]
    top1: np.ndarray  # [n, L + 1] the top-1 token id
    answers: np.ndarray  # [n]

    @property
    def n(self) -> int:
        return int(self.prob.shape[0])

    def summary(self) -> list[dict[str, Any]]:
        """Per layer: mean P(true), share at rank 0 with its Wilson 95% interval, median and
        mean rank, n facts."""
        from behemoth.intervals import wilson

        out = []
        for j, name in enumerate(self.layers):
            hits = int((self.rank[:, j] == 0).sum())
            lo, hi = wilson(hits, self.n)
            out.append(
                {
                    "layer": name,
                    "p_true": float(self.prob[:, j].mean()),
                    "top1": hits / self.n,
                    "top1_ci_low": lo,
                    "top1_ci_high": hi,
                    "median_rank": float(np.median(self.rank[:, j])),
                    "mean_rank": float(self.rank[:, j].mean()),
                    "n": self.n,
                }
            )
        return out

    def table(self) -> str:
        """The per-layer summary as text."""
        head = (
            f"{'layer':<7} {'P(true)':>8} {'top-1':>6} {'95% interval':>16} "
            f"{'median rank':>11} {'mean rank':>9} {'n':>5}"
        )
        lines = [head, "-" * len(head)]
        for r in self.summary():
            ci = f"[{r['top1_ci_low']:.3f}, {r['top1_ci_high']:.3f}]"
            lines.append(
                f"{r['layer']:<7} {r['p_true']:>8.3f} {r['top1']:>6.3f} {ci:>16} "
                f"{r['median_rank']:>11.0f} {r['mean_rank']:>9.1f} {r['n']:>5}"
            )
        return "\n".join(lines)


def final_norm(model: torch.nn.Module, paths: LayerPaths) -> torch.nn.Module:
    """The model's final layer norm (the one before the unembedding)."""
    from behemoth.errors import ConfigError

    name = FINAL_NORM.get(paths.layers)
    if name is None:
        raise ConfigError(
            "paths",
            f"no final layer norm known for blocks at {paths.layers!r}",
            f"use a model of {', '.join(FINAL_NORM)}",
        )
    return get_module(model, name)


@torch.no_grad()
def logit_lens(
    model: torch.nn.Module,
    prompts: list[np.ndarray],
    answers: np.ndarray,
    *,
    batch_size: int = 256,
    paths: LayerPaths | None = None,
    progress: Any = None,
) -> LensResult:
    """The logit lens of ``prompts`` (token id arrays, any lengths) for the true ``answers``.
    ``progress``: an object with ``update(n)`` (a bar), called per batch with its size."""
    paths = paths or resolve_paths(model)
    n_layers = paths.n_layers(model)
    blocks = [paths.one("block", layer) for layer in range(n_layers)]
    norm = final_norm(model, paths)
    head = get_module(model, paths.head)
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    answers = np.asarray(answers, dtype=np.int64)
    n = len(prompts)
    prob = np.zeros((n, n_layers + 1))
    rank = np.zeros((n, n_layers + 1), dtype=np.int64)
    top1 = np.zeros((n, n_layers + 1), dtype=np.int64)
    lengths = np.array([len(p) for p in prompts])
    try:
        for length in np.unique(lengths):  # one batch shape per prompt length: no padding
            rows = np.flatnonzero(lengths == length)
            for a in range(0, len(rows), batch_size):
                sel = rows[a : a + batch_size]
                ids = torch.as_tensor(np.stack([prompts[i] for i in sel]), device=dev)
                with hooked(model, outputs=[paths.embed, *blocks]) as rec:
                    model(input_ids=ids)
                states = [rec.outputs[paths.embed], *(rec.outputs[b] for b in blocks)]
                ans = torch.as_tensor(answers[sel], device=dev)
                for j, h in enumerate(states):
                    logits = head(norm(h[:, -1])).float()  # [b, V]
                    lp = torch.log_softmax(logits, dim=-1)
                    true = lp.gather(1, ans[:, None])  # [b, 1]
                    prob[sel, j] = true[:, 0].exp().cpu().numpy()
                    rank[sel, j] = (lp > true).sum(dim=1).cpu().numpy()
                    top1[sel, j] = logits.argmax(dim=1).cpu().numpy()
                if progress is not None:
                    progress.update(len(sel))
    finally:
        model.train(was_training)
    names = ["embed", *(str(i) for i in range(n_layers))]
    return LensResult(names, prob, rank, top1, answers)


def lens_probes(
    model: torch.nn.Module,
    world: Any,
    template: str,
    *,
    n_facts: int | None = 200,
    relation: int | None = None,
    seed: int = 0,
    **kwargs: Any,
) -> LensResult:
    """The logit lens of ``n_facts`` facts of the world's probe set ``template`` (a seeded
    sample; None = all; ``relation``: only that relation's)."""
    from behemoth.errors import ConfigError
    from behemoth.world.rng import derive_rng

    if template not in world.probes:
        raise ConfigError(
            "template",
            f"the world has no probe set {template!r}",
            f"choose one of {', '.join(world.probes)}",
        )
    probes = world.probes[template]
    rows = np.arange(len(probes))
    if relation is not None:
        rows = rows[probes.relation == relation]
    if n_facts is not None and n_facts < len(rows):
        rng = derive_rng(seed, f"logit-lens/{template}")
        rows = np.sort(rng.choice(rows, size=n_facts, replace=False))
    if not len(rows):
        raise ConfigError("relation", f"probe set {template!r} has no fact of it", "choose another")
    prompts = [np.asarray(probes.prompt(int(i)), dtype=np.int64) for i in rows]
    return logit_lens(model, prompts, probes.answer[rows], **kwargs)
