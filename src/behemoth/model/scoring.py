"""One batched scoring function: the model's next-token distribution at the answer position.

Every metric is computed from what this returns: the greedy prediction and the log-probability
of chosen target tokens (e.g. the new and the old object) for each prompt. Prompts of equal
length are stacked without padding, so no attention mask or position shift can go wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from behemoth.world.probes import ProbeSet


@dataclass
class Scores:
    """Per-prompt results, in the order the prompts were given."""

    pred: np.ndarray  # [n] greedy next-token id
    target_logprob: np.ndarray  # [n, k] log P(target_j | prompt); k = 0 without targets
    pred_logprob: np.ndarray  # [n] log-probability of the greedy token

    def correct(self, answers: np.ndarray) -> np.ndarray:
        return self.pred == np.asarray(answers)


def _groups(prompts: Sequence[np.ndarray] | ProbeSet, batch_size: int):  # type: ignore[no-untyped-def]
    if isinstance(prompts, ProbeSet):
        yield from prompts.batches(batch_size)
        return
    lengths = np.array([len(p) for p in prompts])
    for L in np.unique(lengths):
        rows = np.flatnonzero(lengths == L)
        for a in range(0, len(rows), batch_size):
            idx = rows[a : a + batch_size]
            yield idx, np.stack([np.asarray(prompts[i], dtype=np.int64) for i in idx])


def _device(model: torch.nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


@torch.no_grad()
def score(
    model: torch.nn.Module,
    prompts: Sequence[np.ndarray] | ProbeSet,
    targets: np.ndarray | None = None,
    batch_size: int = 1024,
) -> Scores:
    """Score next-token predictions of ``model`` after each prompt.

    ``targets``: [n] or [n, k] token ids whose log-probabilities are returned. The model is any
    causal LM whose forward takes ``input_ids`` and returns ``.logits`` (a Hugging Face model or
    a wrapper); it is put in eval mode for the call and restored after.
    """
    n = len(prompts)
    tg = None if targets is None else np.asarray(targets, dtype=np.int64).reshape(n, -1)
    k = 0 if tg is None else tg.shape[1]
    pred = np.empty(n, dtype=np.int64)
    pred_lp = np.empty(n, dtype=np.float64)
    tlp = np.empty((n, k), dtype=np.float64)
    dev = _device(model)
    was_training = model.training
    model.eval()
    try:
        for idx, mat in _groups(prompts, batch_size):
            ids = torch.from_numpy(mat).to(dev)
            out = model(input_ids=ids, logits_to_keep=1)
            logp = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)
            best = logp.max(dim=-1)
            pred[idx] = best.indices.cpu().numpy()
            pred_lp[idx] = best.values.cpu().numpy()
            if tg is not None:
                t = torch.from_numpy(tg[idx]).to(dev)
                tlp[idx] = logp.gather(1, t).cpu().numpy()
    finally:
        model.train(was_training)
    return Scores(pred, tlp, pred_lp)


def probe_accuracy(model: torch.nn.Module, probes: ProbeSet, batch_size: int = 1024) -> float:
    """Share of probes whose greedy next token is the answer (the paper's accuracy)."""
    if len(probes) == 0:
        return float("nan")
    s = score(model, probes, batch_size=batch_size)
    return float(s.correct(probes.answer).mean())
