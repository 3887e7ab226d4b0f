"""Knowledge capacity: how many bits of a world's facts a trained model stores.

Allen-Zhu & Li, "Physics of Language Models: Part 3.3, Knowledge Capacity Scaling Laws"
(arXiv 2404.05405 v1, 2024; numbers below are v1's). Their bit complexity lower bound
(Sec. 3, Theorem 3.2) for a dataset ``bioD(N, K, C, D, L, T)`` (Definition 2.2: N names out of
N0, K attributes, each value C chunks drawn uniformly from an attribute's random set of D
strings of L tokens over T tokens) is a sum of a name, a value and a diversity term, written
with the model's mean losses in nats (``loss_name``, ``loss_value``, ``loss_value1``). The
capacity ratio (Sec. 4, Definition 4.1) divides its leading terms by the parameter count P::

    R(F) = [ N log2(N0 / e^p1) + N K log2(D^C / e^p2) + K D log2(T^L / (D e^p3)) ] / P

A behemoth fact is one (subject, relation) pair whose object is one token drawn uniformly
from the relation's T objects (``world/graph.py``): bioD with C = L = 1 and the paper's D equal
to our T. The value term is then ``N K log2(T / e^p2)``, p2 the mean object loss in nats, which
is exactly ``sum_i (log2 T + log2 p_i)`` for p_i the probability the model puts on fact i's
object: :func:`knowledge_bits` with ``floor=False``. The name term is left out (every subject
token is a subject, N0 = N, so it is <= 0 and 0 for a model that generates the subjects
perfectly; subject generation is not scored), and so is the diversity term (each relation's
objects are fixed tokens of the vocabulary, not a random set: the paper drops it for bioS,
Definition 4.3, on the same ground).

The floor is this study's, not the paper's: by default :func:`fact_bits` floors each fact at 0
(a fact the model rates below the uniform guess adds nothing instead of a negative amount).
The floored sum exceeds the paper's value term by ``sum_i max(0, -log2 T - log2 p_i)`` and is
not a lower bound in Theorem 3.2's sense: a model that always bets on one fixed object gets
about ``(N / T) log2 T`` floored bits from the facts it hits by chance. Compare
``floor=False`` with the paper's 2 bits per parameter.

Here every object is one token (behemoth's vocabulary gives each object of each relation its
own token), so the object's loss is one next-token log-probability (Remark 3.1: the sum of the
value's token losses), and T is the world's ``objects``. Worlds whose objects are not uniform
(a correlated pair, minority objects) have less than ``log2 T`` bits per fact and are refused
by the study. Multi-token objects would need the sum of the object tokens' log-probabilities;
no behemoth world has them.

Parameters are counted two ways (:func:`bits_per_param`): all of them, and without the input
embedding and the output head (the unembedding). The paper's P (Appendix A, "Model sizes") is
neither: all parameters except the embedding rows of tokens the data never uses, with GPT2's
tied embedding and head counted once, so its 2-bit figure counts the used embedding rows.
Behemoth's models are untied and their vocabulary reserves tokens a world's text need not use,
so the paper-style count lies between our two. In this study's worlds each subject is one
token, so a subject's embedding row can hold that subject's facts, and the non-embedding ratio
overstates what the transformer body stores.

Pure: numpy, scipy, pandas and matplotlib; no torch. The table and the plot state every figure
over trained models (:func:`behemoth.replicates.across_models`: mean, Student-t 95% interval
over models, between-model SD, per-model values).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from behemoth.errors import ConfigError
from behemoth.replicates import ReplicateEstimate, across_models

#: Allen-Zhu & Li's peak capacity ratio (bits / param) of GPT2 models after 1,000 exposures per
#: fact (v1, Sec. 5, Result 1; 1 bit after 100 exposures, Sec. 6, Result 4).
ANCHOR_BITS_PER_PARAM = 2.0
LN2 = math.log(2.0)


def _check_choices(n_choices: int) -> None:
    if int(n_choices) < 2:
        raise ConfigError(
            "n_choices", f"{n_choices} objects carry no information", "give T >= 2 choices"
        )


def fact_bits(
    object_logprob: npt.ArrayLike, n_choices: int, floor: bool = True
) -> npt.NDArray[np.float64]:
    """Bits learned of each fact: ``log2 T - CE_i`` with ``CE_i = -log2 p_i`` the model's
    cross-entropy on fact i's object in bits (``object_logprob`` is ``ln p_i``, nats, as the
    scorer returns it); floored at 0 unless ``floor=False``. Unfloored, the sum over the facts
    is the value term ``N K log2(D^C / e^p2)`` of Allen-Zhu & Li (2024, v1, Theorem 3.2 and
    Definition 4.1) with C = 1 and D = T; the floor is this study's and makes the sum larger.
    Never above ``log2 T`` (``p_i <= 1``)."""
    _check_choices(n_choices)
    lp = np.asarray(object_logprob, dtype=np.float64).reshape(-1)
    if np.isnan(lp).any() or (lp > 1e-9).any():
        raise ConfigError(
            "object_logprob",
            "holds NaN or a positive log-probability",
            "pass ln p(object) from the scorer (values <= 0)",
        )
    bits = math.log2(n_choices) + np.minimum(lp, 0.0) / LN2
    return np.maximum(bits, 0.0) if floor else bits


def knowledge_bits(object_logprob: npt.ArrayLike, n_choices: int, floor: bool = True) -> float:
    """The model's knowledge in bits: :func:`fact_bits` summed over the facts (``floor=False``:
    the paper's value term, the figure to compare with its 2 bits per parameter)."""
    return float(fact_bits(object_logprob, n_choices, floor).sum())


def facts_known(pred: npt.ArrayLike, answer: npt.ArrayLike) -> int:
    """Facts whose greedy next token is the object (the trainer's accuracy, as a count)."""
    p, a = np.asarray(pred).reshape(-1), np.asarray(answer).reshape(-1)
    if p.shape != a.shape:
        raise ConfigError("pred", f"{p.shape} predictions for {a.shape} answers", "one each")
    return int((p == a).sum())


def bits_per_param(bits: float, params: int) -> float:
    """The capacity ratio ``bits / params`` (Allen-Zhu & Li 2024, v1, Definition 4.1: a peak of
    about 2 after 1,000 exposures, with ``params`` all parameters but unused embedding rows)."""
    if params <= 0:
        raise ConfigError("params", f"{params} parameters", "count at least one parameter")
    return float(bits) / float(params)


def tokens_per_fact_at(
    history: Sequence[dict[str, Any]], target: str, n_facts: int, level: float
) -> float | None:
    """Tokens seen per fact when ``level`` of the facts were first known: the first training
    evaluation (``train_log.jsonl`` record) whose ``target`` accuracy is >= ``level``, its
    tokens / ``n_facts``; None if no evaluation reached it. Resolution: one evaluation period
    (``train.eval_every`` steps)."""
    if n_facts <= 0:
        raise ConfigError("n_facts", f"{n_facts}", "give the number of facts (>= 1)")
    for rec in history:
        sets = rec.get("sets", {})
        if target in sets and sets[target]["acc"] >= level:
            return float(rec["tokens"]) / n_facts
    return None


# --- the study's table and plot --------------------------------------------------------------

#: (column, label, bounds of the interval) of the per-size table
SUMMARY_COLUMNS: tuple[tuple[str, str, tuple[float, float] | None], ...] = (
    ("facts_known", "facts known", (0.0, math.inf)),
    ("bits", "bits (floored)", (0.0, math.inf)),
    ("bits_unfloored", "bits (paper's value term)", None),
    ("bits_per_param_all", "bits/param (all)", (0.0, math.inf)),
    ("bits_per_param_non_embedding", "bits/param (non-emb.)", (0.0, math.inf)),
    ("tokens_per_fact_50", "tokens/fact to 50%", (0.0, math.inf)),
    ("tokens_per_fact_99", "tokens/fact to 99%", (0.0, math.inf)),
)


def summarize(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Per model size (width, layers), each column over its trained replicates
    (:func:`across_models`; a replicate that never reached a level has no tokens value)."""
    out = []
    for (width, layers), g in rows.groupby(["width", "layers"], sort=True):
        g = g.sort_values("replicate")
        est = {
            col: across_models(g[col].astype(np.float64).to_numpy(), bounds=b)
            for col, _, b in SUMMARY_COLUMNS
        }
        out.append(
            {
                "width": int(width),
                "layers": int(layers),
                "params_all": int(g["params_all"].iloc[0]),
                "params_non_embedding": int(g["params_non_embedding"].iloc[0]),
                "n_facts": int(g["n_facts"].iloc[0]),
                "n_models": len(g),
                "estimates": est,
            }
        )
    return out


def _cell(e: ReplicateEstimate, digits: int) -> str:
    if e.n_models == 0:
        return "-"
    f = f"{{:.{digits}f}}"
    if e.n_models == 1:
        head = f"{f.format(e.value)} (one model)"
    elif e.sd == 0.0:
        head = f"{f.format(e.value)} sd 0"
    else:
        head = f"{f.format(e.value)} [{f.format(e.lo)}, {f.format(e.hi)}] sd {f.format(e.sd)}"
    per = ", ".join(f.format(v) for v in e.per_model)
    return f"{head}; models: {per}"


def table_markdown(rows: pd.DataFrame) -> str:
    """The study's table: per size, each figure as mean [95% t-interval over models] sd, then
    the per-model values, and the number of models behind it."""
    head = ["width", "layers", "params (all / non-emb.)", "facts"]
    head += [label for _, label, _ in SUMMARY_COLUMNS] + ["n models"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    digits = {"bits_per_param_all": 3, "bits_per_param_non_embedding": 3}
    for s in summarize(rows):
        cells = [
            str(s["width"]),
            str(s["layers"]),
            f"{s['params_all']:,} / {s['params_non_embedding']:,}",
            f"{s['n_facts']:,}",
        ]
        for col, _, _ in SUMMARY_COLUMNS:
            e = s["estimates"][col]
            reached = e.n_models
            text = _cell(e, digits.get(col, 1))
            if col.startswith("tokens") and reached < s["n_models"]:
                text += f" ({s['n_models'] - reached} never reached)"
            cells.append(text)
        cells.append(str(s["n_models"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_capacity(rows: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Facts known (left) and bits (right) against parameters (all, log x): each replicate a
    faint point, each size's mean with its t-interval band over models (per depth), and on the
    right the 2 bits/parameter anchor of Allen-Zhu & Li (2024) for both parameter counts (all:
    a line; non-embedding: a cross at each size). A PNG at ``path``, written
    to a temporary name and renamed."""

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    path = Path(path)
    summary = summarize(rows)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    depths = sorted({s["layers"] for s in summary})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, col, ylabel in (
        (axes[0], "facts_known", "facts known (greedy answer correct)"),
        (axes[1], "bits_unfloored", "knowledge bits (Allen-Zhu & Li 2024, Def. 4.1 value term)"),
    ):
        for i, depth in enumerate(depths):
            c = colors[i % len(colors)]
            d = rows[rows["layers"] == depth]
            ax.scatter(d["params_all"], d[col], color=c, alpha=0.25, s=14, linewidths=0)
            ss = [s for s in summary if s["layers"] == depth]
            xs = np.array([s["params_all"] for s in ss], dtype=np.float64)
            es = [s["estimates"][col] for s in ss]
            mean = np.array([e.value for e in es])
            lo = np.array([e.lo if np.isfinite(e.lo) else e.value for e in es])
            hi = np.array([e.hi if np.isfinite(e.hi) else e.value for e in es])
            ax.plot(xs, mean, "o-", color=c, label=f"{depth} layers (mean of models)")
            ax.fill_between(xs, lo, hi, color=c, alpha=0.15, linewidth=0)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # a narrow range crowds minor labels
        ax.set(xlabel="parameters (all)", ylabel=ylabel)
        ax.grid(alpha=0.3, which="both")
    if len(rows):
        n_facts = int(rows["n_facts"].iloc[0])
        axes[0].axhline(n_facts, color="gray", linestyle=":", label=f"all {n_facts:,} facts")
        lo_x, hi_x = float(rows["params_all"].min()), float(rows["params_all"].max())
        xs = np.geomspace(lo_x / 1.2, hi_x * 1.2, 50)
        axes[1].plot(xs, ANCHOR_BITS_PER_PARAM * xs, "k--", lw=1, label="2 bits / parameter")
        sizes = rows.drop_duplicates(["width", "layers"]).sort_values("params_all")
        axes[1].plot(
            sizes["params_all"],
            ANCHOR_BITS_PER_PARAM * sizes["params_non_embedding"],
            "kx",
            label="2 bits / non-embedding parameter",
        )
        total = float(rows["bits_max"].iloc[0]) if "bits_max" in rows else None
        if total:
            axes[1].axhline(total, color="gray", linestyle=":", label="all the world's bits")
        axes[1].set_yscale("log")
    for ax in axes:
        ax.legend(fontsize=7)
    default = "facts known and bits stored vs parameters (band: 95% t-interval over models)"
    fig.suptitle(title or default, fontsize=9)
    fig.tight_layout()
    from behemoth.io import write_png

    return write_png(fig, path)
