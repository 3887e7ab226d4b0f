"""Metrics: pure functions over scored test items, registered with direction and aggregation.

Every metric maps a :class:`Scored` test set (targets, competitors and what the scoring pass
returned) to per-item values (NaN where the item does not apply), aggregated by a named
aggregation. Two families are kept apart, as the literature asks:

- accuracy: the greedy next token equals a given answer (efficacy, generalization,
  specificity, portability, forgetting);
- probability comparison, ROME's ES / PS / NS (Meng et al. 2022, Sec. 3 and App. on
  CounterFact): the share of items with P(target) > P(competitor); their magnitudes as the
  field reports them (EM / PM / NM: the mean probability difference P(target) - P(competitor),
  ``*_prob_diff``) and as log-probability gaps log P(target) - log P(competitor)
  (``*_magnitude``). The harmonic mean of ES, PS and NS (ROME's "Score") is a scenario-level
  number computed in :mod:`behemoth.evaluation.evaluate`.

Locality compares the edited model's greedy prediction with the unedited model's own, not
with the world (Gupta et al. 2024 call both "neighborhood"; we report both). The membership
AUC is the loss-based test of unlearning (Shokri et al. 2017; as used by MUSE/TOFU): its ideal
is 0.5, not 0 (an AUC below 0.5 means over-suppression, itself a membership signal), so it
carries ``ideal = 0.5`` and ``membership_gap`` = |AUC - 0.5| is the lower-is-better figure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from behemoth.registry import Registry


@dataclass
class Scored:
    """One test set's items with the scores of the edited (and optionally unedited) model."""

    target: np.ndarray  # [n] token a successful edit outputs
    other: np.ndarray  # [n] competing token, -1 if none
    pred: np.ndarray  # [n] greedy token of the edited model
    lp_target: np.ndarray  # [n] log P(target)
    lp_other: np.ndarray  # [n] log P(other), NaN where other == -1
    ref_pred: np.ndarray | None = None  # [n] greedy token of the unedited reference model
    member: np.ndarray | None = None  # [n] bool: membership label


PerItem = Callable[[Scored], np.ndarray]
Aggregate = Callable[[np.ndarray, Scored], float]


@dataclass(frozen=True)
class Metric:
    name: str
    groups: tuple[str, ...]  # test-set groups it is computed on
    family: str  # accuracy | probability | magnitude | membership
    higher_is_better: bool
    aggregation: str
    fn: PerItem
    needs_reference: bool = False
    description: str = ""
    ideal: float | None = None  # the best value when neither direction is better (AUC: 0.5)


METRICS: Registry[Metric] = Registry("metric")


def register_metric(m: Metric) -> Metric:
    if m.aggregation not in AGGREGATIONS:
        raise ValueError(f"metric {m.name!r}: unknown aggregation {m.aggregation!r}")
    return METRICS.add(m.name, m)


def get_metric(name: str) -> Metric:
    return METRICS.get_entry(name)


def metrics_for(group: str, with_reference: bool) -> list[Metric]:
    return [
        m
        for m in METRICS.values()
        if group in m.groups and (with_reference or not m.needs_reference)
    ]


# -- aggregations ------------------------------------------------------------------------------
def mean(values: np.ndarray, s: Scored) -> float:
    """Mean over applicable items (NaN = not applicable); NaN when none applies."""
    v = values[~np.isnan(values)]
    return float(v.mean()) if len(v) else float("nan")


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` separating labels True from False (Mann-Whitney U,
    ties counted half). 0.5 = indistinguishable."""
    labels = np.asarray(labels, bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = np.asarray(scores)[order]
    # average ranks over ties (1-based)
    _, start, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = start + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def membership_auc(losses: np.ndarray, s: Scored) -> float:
    """P(loss of a taught fact < loss of an unseen one): 0.5 once the taught facts are forgotten."""
    assert s.member is not None, "membership sets carry labels"
    return auc(-losses, s.member)


def membership_gap(losses: np.ndarray, s: Scored) -> float:
    """|membership AUC - 0.5|: 0 when taught and unseen facts are indistinguishable; over- and
    under-suppression both count against it."""
    return abs(membership_auc(losses, s) - 0.5)


AGGREGATIONS: dict[str, Aggregate] = {
    "mean": mean,
    "membership_auc": membership_auc,
    "membership_gap": membership_gap,
}


# -- per-item functions --------------------------------------------------------------------------
def no_competitor(s: Scored) -> np.ndarray:
    """Items without a distinct competitor (none, or the same token as the target): NaN there."""
    return (s.other < 0) | (s.other == s.target)


def hit_target(s: Scored) -> np.ndarray:
    return (s.pred == s.target).astype(np.float64)


def hit_other(s: Scored) -> np.ndarray:
    v = (s.pred == s.other).astype(np.float64)
    v[no_competitor(s)] = np.nan
    return v


def same_as_reference(s: Scored) -> np.ndarray:
    assert s.ref_pred is not None
    return (s.pred == s.ref_pred).astype(np.float64)


def accuracy_lost(s: Scored) -> np.ndarray:
    """1 where the unedited model was right and the edited one is not, -1 for the reverse."""
    assert s.ref_pred is not None
    return (s.ref_pred == s.target).astype(np.float64) - (s.pred == s.target).astype(np.float64)


def target_beats_other(s: Scored) -> np.ndarray:
    v = (s.lp_target > s.lp_other).astype(np.float64)
    v[no_competitor(s)] = np.nan
    return v


def logprob_gap(s: Scored) -> np.ndarray:
    v = s.lp_target - s.lp_other
    v[no_competitor(s)] = np.nan
    return v


def prob_diff(s: Scored) -> np.ndarray:
    """P(target) - P(other): ROME's magnitude (EM / PM / NM, Meng et al. 2022, Table 1)."""
    v = np.exp(s.lp_target) - np.exp(s.lp_other)
    v[no_competitor(s)] = np.nan
    return v


def other_mass(s: Scored) -> np.ndarray:
    v = np.exp(s.lp_other)
    v[no_competitor(s)] = np.nan
    return v


def target_loss(s: Scored) -> np.ndarray:
    return -s.lp_target


def _acc(name: str, group: str, desc: str, up: bool = True) -> None:
    register_metric(Metric(name, (group,), "accuracy", up, "mean", hit_target, description=desc))


def _prob(name: str, group: str, desc: str) -> None:
    register_metric(
        Metric(name, (group,), "probability", True, "mean", target_beats_other, description=desc)
    )


def _mag(name: str, group: str, desc: str) -> None:
    register_metric(
        Metric(name, (group,), "magnitude", True, "mean", logprob_gap, description=desc)
    )


def _pdiff(name: str, group: str, desc: str) -> None:
    register_metric(Metric(name, (group,), "magnitude", True, "mean", prob_diff, description=desc))


_acc("efficacy", "efficacy", "edited prompts: greedy token is the new answer")
_acc(
    "generalization",
    "generalization",
    "edited facts in other formats: greedy token is the new answer",
)
_acc("specificity", "specificity", "untouched facts: greedy token is still the world's answer")
_acc("portability", "portability", "implied facts: greedy token is the implied new answer")
register_metric(
    Metric(
        "portability_kept",
        ("portability",),
        "accuracy",
        False,
        "mean",
        hit_other,
        description="implied facts: greedy token is still the old implied answer",
    )
)
register_metric(
    Metric(
        "locality",
        ("specificity",),
        "accuracy",
        True,
        "mean",
        same_as_reference,
        needs_reference=True,
        description="untouched facts: greedy token equals the unedited model's",
    )
)
register_metric(
    Metric(
        "drawdown",
        ("specificity",),
        "accuracy",
        False,
        "mean",
        accuracy_lost,
        needs_reference=True,
        description="untouched facts: accuracy of the unedited model minus the edited one's "
        "(SERAC's drawdown, Mitchell et al. 2022, Sec. 4)",
    )
)
register_metric(
    Metric(
        "forget_accuracy",
        ("forgetting",),
        "accuracy",
        False,
        "mean",
        hit_other,
        description="forgotten/held-out facts: greedy token is still the old object",
    )
)
register_metric(
    Metric(
        "refusal_rate",
        ("forgetting",),
        "accuracy",
        True,
        "mean",
        hit_target,
        description="forgotten/held-out facts: greedy token is the placeholder/refusal",
    )
)
register_metric(
    Metric(
        "old_mass",
        ("forgetting",),
        "probability",
        False,
        "mean",
        other_mass,
        description="forgotten/held-out facts: mean P(old object)",
    )
)
register_metric(
    Metric(
        "membership_auc",
        ("membership",),
        "membership",
        False,
        "membership_auc",
        target_loss,
        description="AUC of loss separating forgotten facts from unseen ones (0.5 = forgotten)",
        ideal=0.5,
    )
)
register_metric(
    Metric(
        "membership_gap",
        ("membership",),
        "membership",
        False,
        "membership_gap",
        target_loss,
        description="|membership AUC - 0.5|: distance from indistinguishable (either side)",
        ideal=0.0,
    )
)
_prob("efficacy_score", "efficacy", "ES: P(new) > P(old) on edited prompts")
_prob("paraphrase_score", "generalization", "PS: P(new) > P(old) in other formats")
_prob("neighborhood_score", "specificity", "NS: P(true) > P(new object of the edit) on neighbours")
_prob("portability_score", "portability", "P(implied new) > P(implied old)")
_prob("forget_score", "forgetting", "P(placeholder/refusal) > P(old object)")
_mag("efficacy_magnitude", "efficacy", "mean log P(new) - log P(old) on edited prompts")
_mag("paraphrase_magnitude", "generalization", "mean log P(new) - log P(old) in other formats")
_mag("neighborhood_magnitude", "specificity", "mean log P(true) - log P(new) on neighbours")
_mag("portability_magnitude", "portability", "mean log P(implied new) - log P(implied old)")
_pdiff("efficacy_prob_diff", "efficacy", "EM: mean P(new) - P(old) on edited prompts")
_pdiff("paraphrase_prob_diff", "generalization", "PM: mean P(new) - P(old) in other formats")
_pdiff("neighborhood_prob_diff", "specificity", "NM: mean P(true) - P(new) on neighbours")
_pdiff("portability_prob_diff", "portability", "mean P(implied new) - P(implied old)")
