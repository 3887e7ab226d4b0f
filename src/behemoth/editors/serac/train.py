"""Training SERAC's networks: which facts they may see, the joint loss, and validation.

Mitchell et al. 2022, Sec. 3.2: loss = 0.1 x NLL of the counterfactual model on in-scope
inputs + 1.0 x class-balanced binary cross-entropy of the scope classifier (positives and
negatives averaged separately, then together). The base model is not involved at all.

Which facts: :func:`scenario_training_facts` takes a scenario's retain mix, which the scenario
builder draws disjoint from every test set (efficacy, generalization, specificity ...), so
networks trained on it never see a test fact of that scenario. Validation holds out a share of
those facts' subjects: the figures say how scope and copying transfer to subjects never seen.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from behemoth.editors.serac.artifact import SeracNets
from behemoth.editors.serac.config import SeracNetsConfig
from behemoth.editors.serac.pairs import NEGATIVE_KINDS, POSITIVES, Batch, PairSampler
from behemoth.errors import BehemothError
from behemoth.progress import bars_enabled
from behemoth.scenarios.scenario import Scenario
from behemoth.world.rng import derive_rng
from behemoth.world.world import World


def scenario_training_facts(scenario: Scenario) -> np.ndarray:
    """[n, 2] (subject, relation) of the scenario's retain mix: disjoint from all its tests."""
    p = scenario.retain.probes
    facts = np.stack([p.subject, p.relation], axis=1).astype(np.int64)
    return np.unique(facts, axis=0)


def test_facts(scenario: Scenario) -> set[tuple[int, int]]:
    """Every S-O (subject, relation) that a test set of ``scenario`` asks about."""
    out: set[tuple[int, int]] = set()
    for t in scenario.tests.values():
        s, r = t.probes.subject, t.probes.relation
        out.update((int(a), int(b)) for a, b in zip(s, r) if a >= 0)
    for q in scenario.requests:
        out.add((q.subject, q.relation))
    return out


def check_disjoint(nets: SeracNets, scenario: Scenario) -> None:
    """Refuse networks trained on a fact the scenario tests (a leak of test data into SERAC)."""
    seen = {(int(a), int(b)) for a, b in nets.train_facts}
    leak = seen & test_facts(scenario)
    if leak:
        s, r = sorted(leak)[0]
        raise BehemothError(
            f"SERAC: the networks were trained on {len(leak)} fact(s) that scenario "
            f"{scenario.name!r} tests (e.g. subject {s}, relation {r}); train them with "
            f"`behemoth train-serac` on this scenario's split"
        )


def balanced_bce(logp: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Class-balanced BCE from log-scores ``logp`` (log P(in scope)) and 0/1 labels."""
    logp = logp.clamp(max=-1e-6)
    log1m = torch.log(-torch.expm1(logp))  # log(1 - p), stable for p near 0 and 1
    pos, neg = labels > 0.5, labels <= 0.5
    loss_pos = -logp[pos].mean() if bool(pos.any()) else logp.new_zeros(())
    loss_neg = -log1m[neg].mean() if bool(neg.any()) else logp.new_zeros(())
    return 0.5 * (loss_pos + loss_neg)


def class_logp(nets: SeracNets, b: Batch) -> torch.Tensor:
    """[B*5] log P(in scope) of every (edit, query) pair of the batch."""
    cls = nets.classifier
    if cls.variant == "embedding":
        e = cls.embed(b.edits, b.edits_pad)[b.group]
        q = cls.embed(b.queries, b.queries_pad)
        return cls.logsim(e, q)
    return torch.nn.functional.logsigmoid(cls.cross_logit(b.cross, b.cross_pad))


def losses(nets: SeracNets, b: Batch) -> dict[str, torch.Tensor]:
    cf_logits = nets.counterfactual(b.cf, b.cf_pad, b.cf_last)
    nll = torch.nn.functional.cross_entropy(cf_logits, b.cf_target)
    logp = class_logp(nets, b)
    bce = balanced_bce(logp, b.labels)
    c = nets.config
    return {
        "loss": c.cf_weight * nll + c.cls_weight * bce,
        "nll": nll,
        "bce": bce,
        "logp": logp.detach(),
        "cf_hit": (cf_logits.argmax(-1) == b.cf_target).float().mean().detach(),
    }


@torch.no_grad()
def validate(nets: SeracNets, sampler: PairSampler, batches: int = 8) -> dict[str, float]:
    """Classifier precision/recall at 0.5 and counterfactual accuracy on held-out facts, with
    the count each share is taken over (``n_*``: for their 95% intervals)."""
    nets.eval()
    tp = fp = fn = tn = 0
    cf_hits, cf_n = 0.0, 0
    kind_fp = dict.fromkeys(NEGATIVE_KINDS, 0)
    kind_n = dict.fromkeys(NEGATIVE_KINDS, 0)
    for _ in range(batches):
        b = sampler.sample(nets.config.batch_edits)
        out = losses(nets, b)
        pred = out["logp"].exp() > 0.5
        lab = b.labels > 0.5
        tp += int((pred & lab).sum())
        fp += int((pred & ~lab).sum())
        fn += int((~pred & lab).sum())
        tn += int((~pred & ~lab).sum())
        cf_hits += float(out["cf_hit"]) * len(b.cf_target)
        cf_n += len(b.cf_target)
        # each edit's queries: POSITIVES in scope, then one negative of each kind, in order
        slot = torch.arange(len(lab)) % (POSITIVES + len(NEGATIVE_KINDS))
        for j, kind in enumerate(NEGATIVE_KINDS):
            at = slot == POSITIVES + j
            kind_fp[kind] += int(pred[at].sum())
            kind_n[kind] += int(at.sum())
    per_kind: dict[str, float] = {}
    for k in NEGATIVE_KINDS:  # which hard negatives pass (their counts for the intervals)
        per_kind[f"false_positive_rate_{k}"] = kind_fp[k] / max(kind_n[k], 1)
        per_kind[f"n_negative_{k}"] = kind_n[k]
    return {
        **per_kind,
        "precision": tp / max(tp + fp, 1),
        "recall": tp / max(tp + fn, 1),
        "false_positive_rate": fp / max(fp + tn, 1),
        "counterfactual_accuracy": cf_hits / max(cf_n, 1),
        "n_predicted": tp + fp,
        "n_positive": tp + fn,
        "n_negative": fp + tn,
        "n_counterfactual": cf_n,
    }


def train_nets(
    world: World,
    facts: np.ndarray,
    config: SeracNetsConfig,
    split: dict[str, Any] | None = None,
    progress: bool = True,
) -> SeracNets:
    """Train the classifier and the counterfactual model on ``facts`` ([n, 2]) of ``world``."""
    facts = np.unique(np.asarray(facts, dtype=np.int64).reshape(-1, 2), axis=0)
    if len(facts) < 4:
        raise BehemothError(f"SERAC: {len(facts)} training facts are too few; give at least 4")
    rng = derive_rng(config.seed, "serac-pairs")
    subjects = np.unique(facts[:, 0])
    n_val = int(round(config.val_share * len(subjects)))
    val_subj = rng.choice(subjects, size=n_val, replace=False) if n_val else subjects[:0]
    is_val = np.isin(facts[:, 0], val_subj)
    if (~is_val).sum() < 2:
        raise BehemothError(
            "SERAC: no training facts left after the validation split; lower val_share"
        )
    train = PairSampler(
        world, facts[~is_val], rng, config.scratch_rows, config.scratch_share, config.formats
    )
    nets = SeracNets.build(config, int(world.vocab.size), world.fingerprint, facts)
    nets.split = dict(split or {})
    params = [*nets.classifier.parameters(), *nets.counterfactual.parameters()]
    opt = torch.optim.Adam(params, lr=config.lr)
    # One-cycle schedule with 5% warmup; below 21 steps its warmup would be under one step
    # (torch divides by zero), so short runs (smoke tests) use the constant rate instead.
    sched: torch.optim.lr_scheduler.LRScheduler
    if config.steps > 20:
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=config.lr, total_steps=config.steps, pct_start=0.05
        )
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    bar = tqdm(
        range(config.steps),
        desc="train-serac",
        unit="step",
        disable=not (progress and bars_enabled()),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        for step in bar:
            nets.classifier.train()
            nets.counterfactual.train()
            out = losses(nets, train.sample(config.batch_edits))
            opt.zero_grad(set_to_none=True)
            out["loss"].backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            if step % 20 == 0:
                bar.set_postfix(
                    bce=f"{float(out['bce'].detach()):.3f}", nll=f"{float(out['nll'].detach()):.3f}"
                )
    nets.eval()
    metrics: dict[str, Any] = {"train": validate(nets, train)}
    if is_val.sum() >= 2:
        held = PairSampler(
            world, facts[is_val], derive_rng(config.seed, "serac-val"), 0, 0.0, config.formats
        )
        metrics["held_out_subjects"] = validate(nets, held)
    metrics["facts"] = {"train": int((~is_val).sum()), "held_out": int(is_val.sum())}
    nets.metrics = metrics
    return nets
