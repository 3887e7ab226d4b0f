"""Per-token statistics of whole texts (fact statements), for the membership attacks.

One forward pass per batch of equal-length texts (no padding): at every position t >= 1 the
log-probability of the text's own token x_t, and the mean and standard deviation of log p over
the model's full next-token distribution (what Min-K%++ normalizes by).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from behemoth.evaluation.unlearning.mia import TokenStats, zlib_length


@torch.no_grad()
def token_stats(
    model: torch.nn.Module,
    texts: Sequence[np.ndarray],
    decode: Callable[[list[int]], str],
    batch_size: int = 512,
) -> TokenStats:
    """:class:`TokenStats` of ``texts`` (token-id arrays); ``decode`` renders a text for zlib."""
    n = len(texts)
    L = max((len(t) for t in texts), default=1) - 1
    lp = np.full((n, L), np.nan)
    mu = np.full((n, L), np.nan)
    sd = np.full((n, L), np.nan)
    lengths = np.array([len(t) for t in texts])
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        for length in np.unique(lengths):
            rows = np.flatnonzero(lengths == length)
            for a in range(0, len(rows), batch_size):
                idx = rows[a : a + batch_size]
                ids = torch.from_numpy(np.stack([texts[i] for i in idx]).astype(np.int64)).to(dev)
                logp = torch.log_softmax(model(input_ids=ids).logits.float(), dim=-1)  # [b, T, V]
                logp = logp[:, :-1]  # position t-1 predicts token t
                own = logp.gather(-1, ids[:, 1:, None])[..., 0]  # [b, T-1]
                p = logp.exp()
                m = (p * logp).sum(-1)  # [b, T-1] E_z[log p(z)]
                var = (p * logp.square()).sum(-1) - m.square()
                k = length - 1
                lp[idx, :k] = own.cpu().numpy()
                mu[idx, :k] = m.cpu().numpy()
                sd[idx, :k] = var.clamp_min(0).sqrt().cpu().numpy()
    finally:
        model.train(was_training)
    zl = np.array([zlib_length(decode([int(x) for x in t])) for t in texts], dtype=np.float64)
    return TokenStats(lp, mu, sd, zl)
