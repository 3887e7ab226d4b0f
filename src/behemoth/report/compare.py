"""Editor A against editor B on the same trained models and the same edit requests.

Two editor settings are compared where both ran on the same replicates and requests: within
one (scenario, world, model recipe), on the (model, seed) pairs both have (a seed fixes the
scenario's requests). Each model contributes the paired difference of its two values (seeds
averaged over their items), and :func:`behemoth.replicates.compare` states it over models: the
mean paired difference with its Student-t interval over models, the probability that A beats
B on a new model (Agarwal et al. 2021, NeurIPS, "Deep RL at the edge of the statistical
precipice", sec. 4.3, as rliable reports it) with a bootstrap interval over models, and a flag
when the difference is positive on some models and negative on others. A comparison needs at
least two shared models (with one model, a difference has no between-model spread).

Which numbers are compared (:data:`COMPARED`): the headline of each kind, one split each.
The paired difference is always A - B as measured; for ``forget_accuracy`` lower is better, so
"A beats B" means A's value is lower (:attr:`EditorComparison.p_beats`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from behemoth.replicates import Comparison, compare
from behemoth.report.data import ModelKey, RunValue, run_values, runs, splits_of

#: (what, metric, group, higher is better): compared on every split the table has for it.
COMPARED: tuple[tuple[str, str, str, bool], ...] = (
    ("edit success", "efficacy", "efficacy", True),
    ("generalization", "generalization", "generalization", True),
    ("kept facts", "specificity", "specificity", True),
    ("still answered (forgetting)", "forget_accuracy", "forgetting", False),
)

#: The fewest shared models a comparison is stated over.
MIN_MODELS = 2


@dataclass(frozen=True)
class EditorComparison:
    """A vs B on one metric and split, within one (scenario, world, model recipe)."""

    scenario: str
    world: str
    model: str
    a: str
    b: str
    what: str
    metric: str
    split: str
    higher_is_better: bool
    result: Comparison

    @property
    def p_beats(self) -> tuple[float, float, float]:
        """P(A beats B on a new model) and its interval; for a lower-is-better metric "beats"
        means lower: P(A < B) + 0.5 P(A = B) = 1 - P(A > B) - 0.5 P(A = B)."""
        r = self.result
        if self.higher_is_better:
            return r.p_improve, r.p_lo, r.p_hi
        return 1 - r.p_improve, 1 - r.p_hi, 1 - r.p_lo

    @property
    def flagged(self) -> bool:
        """The sign of A - B differs between models."""
        return self.result.sign_flip

    def sign_text(self) -> str:
        """``A > B on 3 of 5 models, A < B on 2`` (ties are neither)."""
        d = self.result.diff.per_model
        up, down = sum(x > 0 for x in d), sum(x < 0 for x in d)
        return f"{self.a} > {self.b} on {up} of {len(d)} models, {self.a} < {self.b} on {down}"

    def line(self) -> str:
        """One printed line naming the setting, the paired difference and where it flips:
        ``single | w | tiny, edit success (sro): A = ft, B = rome: A - B = -0.100 [...] sd
        0.292; sign differs: A > B on 2 of 5 models, A < B on 3``."""
        d = self.result.diff.per_model
        up, down = sum(x > 0 for x in d), sum(x < 0 for x in d)
        lower = "" if self.higher_is_better else ", lower is better"
        return (
            f"{self.scenario} | {self.world} | {self.model}, {self.what} ({self.split}{lower}): "
            f"A = {self.a}, B = {self.b}: A - B = {self.result.diff.fmt()}; sign differs: "
            f"A > B on {up} of {len(d)} models, A < B on {down}"
        )


def _per_model(
    per_run: dict[str, RunValue], rids: list[str], info: dict[str, dict[str, Any]]
) -> dict[tuple[ModelKey, Any], RunValue]:
    return {(info[r]["unit"], info[r]["seed"]): per_run[r] for r in rids if r in per_run}


def _mean_over_seeds(vals: list[RunValue]) -> float:
    n = sum(v.n for v in vals)
    if n > 0:
        return sum(v.value * v.n for v in vals) / n
    return sum(v.value for v in vals) / len(vals)


def editor_comparisons(rows: list[dict[str, Any]], seed: int = 0) -> list[EditorComparison]:
    """Every pair of editor settings that ran on the same >= MIN_MODELS models and requests,
    on each metric of COMPARED and each of its splits; flagged (sign-flipping) ones first,
    largest mean difference first."""
    info = runs(rows)
    settings: dict[tuple[str, str, str], dict[str, list[str]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for rid, m in info.items():
        if m["status"] == "ok":
            settings[(m["scenario"], m["world"], m["model"])][m["editor"]].append(rid)
    out: list[EditorComparison] = []
    for what, metric, group, higher in COMPARED:
        for split in splits_of(rows, metric, group):
            per_run = run_values(rows, metric, group, split)
            for (scen, world, model), editors in sorted(settings.items()):
                for a, b in combinations(sorted(editors), 2):
                    va = _per_model(per_run, editors[a], info)
                    vb = _per_model(per_run, editors[b], info)
                    shared = sorted(set(va) & set(vb), key=str)
                    units = sorted({u for u, _ in shared})
                    if len(units) < MIN_MODELS:
                        continue
                    xa = [_mean_over_seeds([va[k] for k in shared if k[0] == u]) for u in units]
                    xb = [_mean_over_seeds([vb[k] for k in shared if k[0] == u]) for u in units]
                    res = compare(xa, xb, bounds=(0.0, 1.0), seed=seed)
                    out.append(
                        EditorComparison(scen, world, model, a, b, what, metric, split, higher, res)
                    )
    # flagged first, and among them the largest mean differences: those a single model would
    # most likely have shown as a finding
    out.sort(key=lambda c: (not c.flagged, -abs(c.result.diff.value)))
    return out
