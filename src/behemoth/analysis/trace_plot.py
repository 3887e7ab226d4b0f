"""The causal-tracing heatmap (tokens x layers), as in ROME's Figure 1. Plain numpy + matplotlib."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np


def plot_trace(
    effect: np.ndarray,
    tokens: list[str],
    path: str | Path,
    *,
    title: str = "",
    kind: str = "hidden",
) -> Path:
    """Write a heatmap of ``effect`` [T, L] (indirect effect per token and layer) to ``path``.

    The title is wrapped to the figure's width and drawn above the whole figure (heatmap and
    colour bar), so no number in it is cut off or covered (issue 23: "corrupted 0" where the
    title said "corrupted 0.23")."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    T, L = effect.shape
    cmap = {"hidden": "Purples", "mlp": "Greens", "attn": "Reds"}.get(kind, "Purples")
    width = max(4.0, 1.2 + 0.5 * L)
    lines = textwrap.wrap(title, width=max(20, int(width * 9))) if title else []
    fig, ax = plt.subplots(figsize=(width, 0.8 + 0.3 * T + 0.2 * len(lines)), dpi=150)
    im = ax.imshow(effect, cmap=cmap, aspect="auto", vmin=min(0.0, float(effect.min())))
    ax.set_yticks(range(T), tokens)
    ax.set_xticks(range(L), [str(i) for i in range(L)])
    ax.set_xlabel(f"layer ({kind} state restored)")
    fig.colorbar(im, ax=ax, label="P(answer) restored - corrupted")
    if lines:
        fig.suptitle("\n".join(lines), fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
