"""The logit-lens plot: per layer, the true object's mean probability and the share of facts
where it is the top-1 token (with Wilson 95% intervals). Plain matplotlib."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_lens(summary: list[dict[str, Any]], path: str | Path, *, title: str = "") -> Path:
    """Write the plot of :meth:`behemoth.analysis.lens.LensResult.summary` rows to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = list(range(len(summary)))
    top1 = [r["top1"] for r in summary]
    lo = [r["top1"] - r["top1_ci_low"] for r in summary]
    hi = [r["top1_ci_high"] - r["top1"] for r in summary]
    width = max(6.0, 1.5 + 0.6 * len(x))
    fig, ax = plt.subplots(figsize=(width, 3.6), dpi=150)
    ax.plot(x, [r["p_true"] for r in summary], "o-", label="mean P(true object)")
    ax.errorbar(x, top1, yerr=[lo, hi], fmt="s--", capsize=3, label="top-1 share (95% Wilson)")
    ax.set_xticks(x, [r["layer"] for r in summary])
    ax.set_xlabel("residual stream after layer (final norm + unembedding)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8, loc="upper left")
    if title:
        import textwrap

        ax.set_title("\n".join(textwrap.wrap(title, int(width * 11))), fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
