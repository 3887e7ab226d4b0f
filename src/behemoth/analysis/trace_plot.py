"""The causal-tracing heatmap (tokens x layers), as in ROME's Figure 1. Plain numpy + matplotlib."""

from __future__ import annotations

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
    """Write a heatmap of ``effect`` [T, L] (indirect effect per token and layer) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    T, L = effect.shape
    cmap = {"hidden": "Purples", "mlp": "Greens", "attn": "Reds"}.get(kind, "Purples")
    fig, ax = plt.subplots(figsize=(1.2 + 0.5 * L, 0.8 + 0.3 * T), dpi=150)
    im = ax.imshow(effect, cmap=cmap, aspect="auto", vmin=min(0.0, float(effect.min())))
    ax.set_yticks(range(T), tokens)
    ax.set_xticks(range(L), [str(i) for i in range(L)])
    ax.set_xlabel(f"layer ({kind} state restored)")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label="P(answer) restored - corrupted")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
