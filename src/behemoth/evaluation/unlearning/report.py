"""Everything an unlearned model is judged by, against the retain oracle.

``measure(model, world, split)`` scores one model once (per-item arrays);
``summarize(unlearned, oracle, original)`` turns three such measurements into the table row:

- forget accuracy: forgotten facts, the world's training template, greedy token = true object;
  never on the facts an unlearning run's stopping rule watched (``ForgetSplit.stop``, the same
  :func:`~behemoth.editors.unlearning.trainer.stop_edges`): those are left out of every
  forget-side measure (accuracy, forget quality, membership), issue 21;
- held-out accuracy: facts of the forgotten relation(s) left out of the forget set (and of every
  training mix): the oracle knows them, an over-broad method loses them;
- retain accuracy per probe set (every format the world has), on every fact neither forgotten
  nor held out; model utility = harmonic mean, over the formats the original model learned
  (accuracy >= 0.5 there), of retain accuracy, mean P(true object) and the truth-ratio score;
- forget quality: KS p-value between the unlearned and the oracle's truth ratios on the forget
  set (TOFU);
- membership inference: LOSS / zlib / Min-K% (k = 40%, MUSE's, stated in tokens as
  ``min_k_tokens``) / Min-K%++ AUCs in MUSE's orientation (:mod:`.mia`: forget 0, "holdout" 1;
  near 0 = still recognized) of forgotten facts (true object) against the same prompts answered
  by objects no sentence ever paired with them (counterfactual statements, not a holdout set of
  real facts), and PrivLeak of each relative to the oracle (MUSE; negative = under-unlearned);
- the noise floor (issue 21): with a second oracle (another replicate: init and data order,
  :meth:`behemoth.model.config.RunConfig.replicate`), the same forget quality, KS D, AUCs and
  PrivLeak of oracle 2 against oracle 1 (``noise/...``), beside every figure: two models that
  never saw the forget set differ by that much, so a method within it is indistinguishable.

Every estimate carries n and a 95% interval: Wilson for accuracies, a paired bootstrap for AUCs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from behemoth.editors.unlearning.trainer import stop_edges
from behemoth.evaluation.uncertainty import bootstrap, wilson
from behemoth.evaluation.unlearning.ks import ks_2samp_pvalue
from behemoth.evaluation.unlearning.mia import (
    ATTACKS,
    MIN_K_RATIO,
    TokenStats,
    attack_scores,
    min_k_tokens,
    muse_auc,
    paired_bootstrap_auc,
    privleak,
)
from behemoth.evaluation.unlearning.sequences import token_stats
from behemoth.evaluation.unlearning.truth_ratio import (
    harmonic_mean,
    truth_ratio,
    truth_ratio_kept,
)
from behemoth.model.scoring import score
from behemoth.scenarios.forget import forgotten_sno, held_out_facts
from behemoth.scenarios.render import edge_prompts, statement_templates
from behemoth.scenarios.scenario import Scenario
from behemoth.scenarios.testset import TestSet
from behemoth.world.exclude import draw_unseen, relation_sizes, unseen_objects
from behemoth.world.probes import ProbeSet
from behemoth.world.rng import derive_rng
from behemoth.world.world import World

#: A format counts towards model utility when the original model answers it this well.
LEARNED = 0.5


@dataclass(frozen=True)
class ForgetSplit:
    """Flat S-O edge ids (s * R + r): forgotten, held out, rehearsed (the unlearning run's
    retain mix: left out of retain accuracy); S-NO consequences forgotten; ``stop``: forgotten
    facts the unlearning run's stopping rule watched, left out of every forget-side measure
    (``forget`` is the measured rest; the oracle leaves out ``forget`` and ``stop`` both)."""

    forget: np.ndarray
    held_out: np.ndarray
    forget_sno: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    rehearsed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    stop: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def forgotten(self) -> np.ndarray:
        """Every forgotten S-O fact: measured (``forget``) and watched (``stop``), sorted."""
        return np.union1d(self.forget, self.stop)

    @classmethod
    def from_scenario(
        cls,
        world: World,
        scenario: Scenario,
        retain: TestSet | None = None,
        stop_share: float | None = 0.2,
    ) -> ForgetSplit:
        """The split of ``scenario``; ``stop_share``: the unlearning methods' ``stop_share``
        (their stopping rule's validation facts are set apart), None when every method ran
        a fixed budget (nothing set apart)."""
        R = world.graph.n_relations
        so = [q for q in scenario.requests if q.kind == "S-O"]
        every = np.array(sorted({q.subject * R + q.relation for q in so}), dtype=np.int64)
        stop = stop_edges(every, stop_share) if stop_share else np.zeros(0, dtype=np.int64)
        reh = np.zeros(0, dtype=np.int64)
        if retain is not None:
            reh = np.unique(retain.probes.subject * R + retain.probes.relation)
        return cls(
            np.setdiff1d(every, stop),
            held_out_facts(scenario, R),
            forgotten_sno(scenario, R),
            reh,
            stop,
        )


@dataclass
class Measured:
    """One model's per-item results on a split."""

    forget_correct: np.ndarray
    held_correct: np.ndarray
    retain_correct: dict[str, np.ndarray]
    retain_prob: dict[str, np.ndarray]
    retain_tr: dict[str, np.ndarray]
    forget_tr: np.ndarray
    mia_member: dict[str, np.ndarray]
    mia_nonmember: dict[str, np.ndarray]
    #: scored tokens of each membership text (Min-K% takes ``min_k_tokens`` of them)
    mia_tokens: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def save_measured(m: Measured, path: str | Path) -> None:
    """Write a measurement as one ``.npz`` of named arrays (no pickles)."""
    arrays: dict[str, np.ndarray] = {
        "forget_correct": m.forget_correct,
        "held_correct": m.held_correct,
        "forget_tr": m.forget_tr,
        "mia_tokens": m.mia_tokens,
    }
    for prefix, d in (
        ("retain_correct", m.retain_correct),
        ("retain_prob", m.retain_prob),
        ("retain_tr", m.retain_tr),
        ("mia_member", m.mia_member),
        ("mia_nonmember", m.mia_nonmember),
    ):
        for k, v in d.items():
            arrays[f"{prefix}/{k}"] = v
    with open(path, "wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]


def load_measured(path: str | Path) -> Measured:
    with np.load(path, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}

    def group(prefix: str) -> dict[str, np.ndarray]:
        return {k.split("/", 1)[1]: v for k, v in data.items() if k.startswith(prefix + "/")}

    return Measured(
        data["forget_correct"],
        data["held_correct"],
        group("retain_correct"),
        group("retain_prob"),
        group("retain_tr"),
        data["forget_tr"],
        group("mia_member"),
        group("mia_nonmember"),
        data.get("mia_tokens", np.zeros(0, dtype=np.int64)),
    )


@dataclass(frozen=True)
class Estimate:
    value: float
    lo: float
    hi: float
    n: int

    def fmt(self, digits: int = 3) -> str:
        if not np.isfinite(self.lo):
            return f"{self.value:.{digits}f}"
        return f"{self.value:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"


def _n_objects(world: World, r: np.ndarray) -> np.ndarray:
    return relation_sizes(world.config.binarize_first, world.config.objects, r)


def _truth_ratios(
    model: torch.nn.Module, world: World, p: ProbeSet, bs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(correct [n], P(true) [n], truth ratio [n]) of S-O probes ``p``."""
    V, O = world.vocab, world.config.objects
    r = p.relation
    cand = np.asarray(V.object(r[:, None], np.arange(O)[None, :]), dtype=np.int64)  # [n, O]
    targets = np.concatenate([p.answer[:, None], cand], axis=1)
    sc = score(model, p, targets, batch_size=bs)
    lp_true = sc.target_logprob[:, 0]
    lp = sc.target_logprob[:, 1:].copy()
    ok = np.zeros((len(p), O), dtype=bool)
    ok_r = unseen_objects(world.graph, _n_objects(world, r), p.subject, r)
    ok[:, : ok_r.shape[1]] = ok_r
    lp[~ok] = np.nan
    return sc.correct(p.answer), np.exp(lp_true), truth_ratio(lp_true, lp)


def _edges(world: World, flat: np.ndarray, template: str) -> ProbeSet:
    R = world.graph.n_relations
    s, r = flat // R, flat % R
    return edge_prompts(world, template, "S-O", s, r, world.graph.objects[s, r])


def measure(
    model: torch.nn.Module,
    world: World,
    split: ForgetSplit,
    *,
    batch_size: int = 1024,
    seed: int = 0,
) -> Measured:
    """Score ``model`` on the forget, held-out and retained facts of ``split``."""
    g = world.graph
    S, R = g.objects.shape
    tmpl = statement_templates(world)[0]
    fp = _edges(world, split.forget, tmpl)
    f_ok, _, f_tr = _truth_ratios(model, world, fp, batch_size)
    held_ok = np.zeros(0, bool)
    if len(split.held_out):
        held_ok = score(model, _edges(world, split.held_out, tmpl), batch_size=batch_size).correct(
            _edges(world, split.held_out, tmpl).answer
        )
    gone = np.zeros(S * R, bool)
    gone[split.forget] = True
    gone[split.stop] = True
    gone[split.held_out] = True
    gone[split.rehearsed] = True
    gone_sno = np.zeros(S * R, bool)
    gone_sno[split.forget_sno] = True
    rc, rp, rt = {}, {}, {}
    for name, p in world.probes.items():
        if p.kind == "O-NO":
            continue
        flat = p.subject * R + p.relation
        keep = np.flatnonzero(~(gone_sno if p.kind == "S-NO" else gone)[flat])
        sub = p.subset(keep)
        if p.kind == "S-O":
            rc[name], rp[name], rt[name] = _truth_ratios(model, world, sub, batch_size)
        else:
            sc = score(model, sub, sub.answer, batch_size=batch_size)
            rc[name], rp[name] = sc.correct(sub.answer), np.exp(sc.target_logprob[:, 0])
    # membership: the forgotten statement with its true object vs with an object never seen
    s, r = split.forget // R, split.forget % R
    fake = draw_unseen(g, _n_objects(world, r), s, r, derive_rng(seed, "unlearning-mia"))
    has = fake >= 0
    mem_p = edge_prompts(world, tmpl, "S-O", s[has], r[has], g.objects[s[has], r[has]])
    non_p = edge_prompts(world, tmpl, "S-O", s[has], r[has], fake[has])

    def texts(p: ProbeSet) -> list[np.ndarray]:
        return [np.append(p.prompt(i), p.answer[i]).astype(np.int64) for i in range(len(p))]

    def stats(p: ProbeSet) -> TokenStats:
        return token_stats(model, texts(p), world.vocab.decode, batch_size)

    return Measured(
        forget_correct=f_ok,
        held_correct=held_ok,
        retain_correct=rc,
        retain_prob=rp,
        retain_tr=rt,
        forget_tr=f_tr,
        mia_member=attack_scores(stats(mem_p)),
        mia_nonmember=attack_scores(stats(non_p)),
        mia_tokens=np.array([len(p.prompt(i)) for i in range(len(mem_p))], dtype=np.int64),
    )


def _acc(x: np.ndarray) -> Estimate:
    n = len(x)
    lo, hi = wilson(float(x.sum()), n)
    return Estimate(float(x.mean()) if n else float("nan"), lo, hi, n)


def _utility_interval(m: Measured, sets: list[str], seed: int) -> tuple[float, float]:
    """Percentile bootstrap of the model utility (the harmonic mean of each learned set's
    accuracy, answer probability and truth-ratio score; TOFU, Maini et al. 2024, Sec. 2.5),
    resampling retain items with replacement (each item its own cluster: no edits here)."""
    if not sets:
        return float("nan"), float("nan")
    of = np.concatenate([np.full(len(m.retain_correct[k]), i) for i, k in enumerate(sets)])
    at = np.concatenate([np.arange(len(m.retain_correct[k])) for k in sets])

    def utility(idx: np.ndarray) -> float:
        parts = []
        for i, k in enumerate(sets):
            rows = at[idx[of[idx] == i]]
            if not len(rows):
                return float("nan")
            parts += [
                float(m.retain_correct[k][rows].mean()),
                float(m.retain_prob[k][rows].mean()),
                truth_ratio_kept(m.retain_tr[k][rows]),
            ]
        return harmonic_mean(parts)

    return bootstrap(utility, np.full(len(of), -1), seed=seed)


def learned_sets(original: Measured) -> list[str]:
    """Probe sets the original model answers with accuracy >= LEARNED on retained facts."""
    return [k for k, v in original.retain_correct.items() if len(v) and v.mean() >= LEARNED]


def _membership(
    m: Measured, ref: Measured | None, rng: np.random.Generator, prefix: str = ""
) -> dict[str, Estimate]:
    """MUSE's AUC of each attack on ``m`` and its PrivLeak relative to ``ref``'s AUC."""
    nan = float("nan")
    out = {}
    for a in ATTACKS:
        val = muse_auc(m.mia_member[a], m.mia_nonmember[a])
        base = muse_auc(ref.mia_member[a], ref.mia_nonmember[a]) if ref is not None else nan
        lo, hi = paired_bootstrap_auc(m.mia_member[a], m.mia_nonmember[a], rng)
        n = len(m.mia_member[a])
        out[f"{prefix}auc/{a}"] = Estimate(val, lo, hi, n)
        # the reference's AUC held fixed, PrivLeak rises with the AUC: its interval maps over
        out[f"{prefix}privleak/{a}"] = Estimate(
            privleak(val, base), privleak(lo, base), privleak(hi, base), n
        )
    return out


def summarize(
    m: Measured,
    oracle: Measured | None,
    original: Measured,
    *,
    seed: int = 0,
    oracle2: Measured | None = None,
) -> dict[str, Estimate]:
    """The table row of ``m``: accuracies, utility, forget quality, MIA AUCs (MUSE's
    orientation) and PrivLeak (NaN without an oracle), the Min-K% k in tokens, and with a second
    oracle ``oracle2`` the noise floor: ``noise/forget_quality``, ``noise/ks_d``,
    ``noise/auc/<attack>`` and ``noise/privleak/<attack>`` of oracle 2 against ``oracle``."""
    rng = derive_rng(seed, "unlearning-bootstrap")
    nan = float("nan")
    out = {
        "forget_acc": _acc(m.forget_correct),
        "held_out_acc": _acc(m.held_correct),
    }
    for name, v in m.retain_correct.items():
        out[f"retain_acc/{name}"] = _acc(v)
    parts = []
    for name in learned_sets(original):
        parts += [
            float(m.retain_correct[name].mean()),
            float(m.retain_prob[name].mean()),
            truth_ratio_kept(m.retain_tr[name]),
        ]
    n_ret = sum(len(m.retain_correct[k]) for k in learned_sets(original))
    lo, hi = _utility_interval(m, learned_sets(original), seed)
    out["model_utility"] = Estimate(harmonic_mean(parts), lo, hi, n_ret)
    d, p = ks_2samp_pvalue(m.forget_tr, oracle.forget_tr) if oracle is not None else (nan, nan)
    out["forget_quality"] = Estimate(p, nan, nan, len(m.forget_tr))
    out["ks_d"] = Estimate(d, nan, nan, len(m.forget_tr))
    out.update(_membership(m, oracle, rng))
    if len(m.mia_tokens):
        k = min_k_tokens(m.mia_tokens, MIN_K_RATIO)
        out["min_k_tokens"] = Estimate(float(np.median(k)), float(k.min()), float(k.max()), len(k))
    if oracle is not None and oracle2 is not None:
        d2, p2 = ks_2samp_pvalue(oracle2.forget_tr, oracle.forget_tr)
        out["noise/forget_quality"] = Estimate(p2, nan, nan, len(oracle2.forget_tr))
        out["noise/ks_d"] = Estimate(d2, nan, nan, len(oracle2.forget_tr))
        out.update(_membership(oracle2, oracle, derive_rng(seed, "noise-bootstrap"), "noise/"))
    return out
