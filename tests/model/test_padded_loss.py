"""The retain oracle's padding carries no loss, and each retained token weighs what it weighs in
the original stream (model/train.py ``train_step``)."""

from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn.functional as F

from behemoth.model.train import train_step
from behemoth.world.vocab import PAD


class _Fixed(torch.nn.Module):
    """Logits that do not depend on the input (so both batches see the same predictions)."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(logits.clone())

    def forward(self, input_ids: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(logits=self.w.repeat(input_ids.shape[0], 1, 1))


def _loss(batch: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    model = _Fixed(logits)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    acc = SimpleNamespace(backward=lambda loss: loss.backward(), clip_grad_norm_=None)
    return train_step(acc, model, opt, sched, batch, 0.0, False)


def test_padding_has_no_loss_and_retained_tokens_keep_their_weight() -> None:
    g = torch.Generator().manual_seed(0)
    V, T = 30, 8
    logits = torch.randn(1, T, V, generator=g)
    batch = torch.randint(PAD + 1, V, (2, T), generator=g)
    padded = batch.clone()
    padded[:, 3:5] = PAD  # an excluded sentence replaced in place
    # the original's loss is the mean over its b (T - 1) targets; the oracle's is the same sum
    # without the padded targets, over the same count
    labels = batch[:, 1:]
    per = F.cross_entropy(
        logits.expand(2, -1, -1)[:, :-1].reshape(-1, V), labels.reshape(-1), reduction="none"
    ).view(2, T - 1)
    keep = padded[:, 1:] != PAD
    want = (per * keep).sum() / (2 * (T - 1))
    assert torch.allclose(_loss(padded, logits), want)
    assert torch.allclose(_loss(batch, logits), per.mean())
