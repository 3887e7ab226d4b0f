"""Causal tracing: which layer and token carry a relation's facts (Meng et al. 2022, Sec. 2.1).

For each fact: a clean run; a corrupted run, with Gaussian noise (``noise`` times the standard
deviation of the subject token embeddings, 3 in the paper) added to the subject's embeddings;
and restored runs, corrupted except that one state (token t, layer l) is set to its clean
value. The indirect effect of (t, l) is P_restored(answer) - P_corrupted(answer) (Eq. 1-2),
averaged over noise samples and over the relation's facts. ``kind`` chooses the state: the
block output (``hidden``, the residual stream), or the MLP or attention output of the layer.
Where the MLP effect peaks is where ROME/MEMIT should edit (docs/measurements.md: in these
shallow models, at the last prompt token rather than the subject's last token).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from behemoth.model.hooks import hooked, set_at
from behemoth.model.layers import LayerPaths, resolve_paths
from behemoth.world.world import World

Kind = Literal["hidden", "mlp", "attn"]
_PART = {"hidden": "block", "mlp": "mlp_out", "attn": "attn_out"}


@dataclass
class TraceResult:
    """Mean indirect effects [tokens, layers] with the clean and corrupted answer probabilities."""

    effect: np.ndarray  # [T, L]: mean P(answer | restored (t, l)) - P(answer | corrupted)
    restored: np.ndarray  # [T, L]: mean P(answer | restored (t, l))
    clean: float  # mean P(answer) of the clean runs
    corrupted: float  # mean P(answer) with the subject corrupted
    tokens: list[str]  # labels of the positions (from the first prompt)
    kind: str
    n_facts: int


def _answer_prob(logits: torch.Tensor, answers: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits[:, -1].float(), dim=-1).gather(1, answers[:, None])[:, 0]


@torch.no_grad()
def causal_trace(
    model: torch.nn.Module,
    prompts: np.ndarray,
    answers: np.ndarray,
    subject_span: tuple[int, int],
    *,
    kind: Kind = "hidden",
    noise: float = 3.0,
    samples: int = 10,
    seed: int = 0,
    paths: LayerPaths | None = None,
    noise_std: float | None = None,
    labels: list[str] | None = None,
) -> TraceResult:
    """Trace ``prompts`` [n, T] (one template: equal length, same subject span) -> TraceResult."""
    paths = paths or resolve_paths(model)
    n_layers = paths.n_layers(model)
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    ids = torch.as_tensor(np.asarray(prompts), dtype=torch.long, device=dev)  # [n, T]
    ans = torch.as_tensor(np.asarray(answers), dtype=torch.long, device=dev)
    n, T = ids.shape
    a, b = subject_span
    emb = model.get_submodule(paths.embed)
    if noise_std is None:
        noise_std = float(emb(ids[:, a:b]).std())
    g = torch.Generator(device="cpu").manual_seed(seed)
    weight = emb.weight
    assert isinstance(weight, torch.Tensor)
    d = int(weight.shape[1])
    eps = (noise * noise_std * torch.randn(samples, b - a, d, generator=g)).to(
        dev
    )  # same noise for every run

    def corrupt(rows_fact: torch.Tensor) -> Any:
        e = eps.repeat(len(rows_fact) // samples, 1, 1)  # [rows, b - a, d]

        def fn(out: torch.Tensor) -> torch.Tensor:
            out = out.clone()
            out[:, a:b] = out[:, a:b] + e.to(out.dtype)
            return out

        return fn

    modules = [paths.one(_PART[kind], layer) for layer in range(n_layers)]
    effect = np.zeros((T, n_layers))
    restored = np.zeros((T, n_layers))
    clean_p, corrupt_p = 0.0, 0.0
    for i in range(n):
        x = ids[i : i + 1]
        with hooked(model, outputs=modules) as rec:
            clean_p += float(_answer_prob(model(input_ids=x).logits, ans[i : i + 1])[0])
        clean_states = {m: rec.outputs[m][0] for m in modules}  # [T, d]
        rows = x.repeat(samples, 1)
        with hooked(model, patch={paths.embed: corrupt(torch.zeros(samples))}):
            low = float(_answer_prob(model(input_ids=rows).logits, ans[i].repeat(samples)).mean())
        corrupt_p += low
        pos = torch.arange(T, device=dev).repeat_interleave(samples)  # [T * samples]
        rows = x.repeat(T * samples, 1)
        for layer, m in enumerate(modules):
            patch = {paths.embed: corrupt(pos), m: set_at(clean_states[m][pos], pos)}
            with hooked(model, patch=patch):
                p = _answer_prob(model(input_ids=rows).logits, ans[i].repeat(T * samples))
            p_t = p.reshape(T, samples).mean(dim=1).cpu().numpy()
            restored[:, layer] += p_t
            effect[:, layer] += p_t - low
    model.train(was_training)
    toks = labels if labels is not None else [str(int(t)) for t in ids[0]]
    return TraceResult(effect / n, restored / n, clean_p / n, corrupt_p / n, toks, kind, n)


def trace_relation(
    model: torch.nn.Module,
    world: World,
    relation: int,
    *,
    n_facts: int = 20,
    template: str = "sro",
    **kwargs: Any,
) -> TraceResult:
    """Causal trace of ``n_facts`` known facts of one relation, from the world's probes."""
    from behemoth.model.scoring import score
    from behemoth.world.vocab import SS

    probes = world.probes[template]
    rows = np.flatnonzero(probes.relation == relation)
    sub = probes.subset(rows)
    known = score(model, sub).correct(sub.answer)
    rows = rows[known][:n_facts]
    prompts = np.stack([probes.prompt(int(i)) for i in rows]).astype(np.int64)
    start = int(np.flatnonzero(prompts[0] == SS)[0]) + 1
    span = (start, start + world.vocab.subject_tokens)
    lo, hi = world.vocab.ranges["subject"]
    weight = model.get_submodule(resolve_paths(model, kwargs.pop("arch", "auto")).embed).weight
    assert isinstance(weight, torch.Tensor)
    std = float(weight.detach()[lo:hi].std())  # the paper: std of subject embeddings
    words = world.vocab.words
    labels = [
        words[int(t)] + ("*" if span[0] <= j < span[1] else "") for j, t in enumerate(prompts[0])
    ]
    return causal_trace(
        model, prompts, probes.answer[rows], span, noise_std=std, labels=labels, **kwargs
    )
