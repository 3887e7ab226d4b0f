"""The retain-oracle judgment of an unlearning run: one evaluation step, one function.

:func:`judge_unlearning` takes the world, the forget scenario, the original and the edited
model, the original's directory (the recipe the retain oracles retrain), an explicit cache
directory for the oracles (never read from the environment), the seed and the editor's
``stop_share``, and returns an :class:`OracleJudgment`: every model's per-item measurement
(:func:`behemoth.evaluation.unlearning.report.measure`), the summary estimates
(:func:`~behemoth.evaluation.unlearning.report.summarize`) and :meth:`OracleJudgment.rows`, the
record rows (group ``unlearning``). ``run_experiment`` (``oracle: true``, ``behemoth edit
--oracle``, and so every sweep run with ``oracle: true``) and the
unlearning study (``python -m behemoth.experiments.unlearning``) all call it, so the same model,
scenario and seed give the same rows on every path.

What it measures (TOFU, Maini et al. 2024, arXiv 2401.06121, Sec. 2.2 and 2.5; MUSE, Shi et al.
2024, arXiv 2407.06460, criterion C4 "no privacy leakage"):

- forget quality: the KS test p-value of the forget set's truth ratios against retain oracle 1's
  (TOFU Sec. 2.5, ``forget_quality``; the statistic D as ``ks_d``);
- model utility: the harmonic mean of retain accuracy, P(true object) and the truth-ratio score
  over the formats the original learned (TOFU Sec. 2.5);
- membership inference: MUSE's AUC of each attack (forget 0, "holdout" 1: near 0 = still
  recognized; the non-members are counterfactual statements, not a holdout set) and PrivLeak =
  (AUC_unlearned - AUC_oracle) / AUC_oracle x 100% (MUSE, C4; negative = under-unlearned);
- the noise floor (issue 21): the same figures of retain oracle 2 (replicate 1 of the recipe)
  against oracle 1, as ``noise_<metric>`` rows: what two models that never saw the forget set
  already differ by.

Protocol (issue 21): the facts an unlearning run's stopping rule watched (``stop_share`` of the
forget facts, :func:`behemoth.editors.unlearning.trainer.stop_edges`) are left out of every
forget-side figure; ``stop_share=None`` (a fixed budget) leaves nothing out.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from behemoth.errors import BehemothError, ConfigError
from behemoth.evaluation.unlearning.report import (
    Estimate,
    ForgetSplit,
    Measured,
    measure,
    summarize,
)
from behemoth.scenarios.forget import held_out_facts
from behemoth.scenarios.scenario import Scenario
from behemoth.world.world import World

#: The test set every forget scenario has (and no other scenario).
FORGOTTEN = "forgetting/forgotten"

#: summarize() key -> (higher is better, ideal value); keys are ``metric`` or ``metric/split``.
ORACLE_METRICS: dict[str, tuple[bool | None, float | None]] = {
    "forget_acc": (False, None),
    "held_out_acc": (True, 1.0),
    "retain_acc": (True, 1.0),
    "model_utility": (True, None),
    "forget_quality": (True, 1.0),
    "ks_d": (False, 0.0),
    "auc": (None, 0.5),
    "privleak": (None, 0.0),
}

#: A lock around training (or finding) one oracle, given its cache key (a sweep's file lock).
Guard = Callable[[str], AbstractContextManager[Any]]


def is_forget(scenario: Scenario) -> bool:
    """Whether ``scenario`` forgets facts (the only kind the retain oracle can judge)."""
    return FORGOTTEN in scenario.tests


def check_forget(scenario: Scenario, field: str = "--oracle") -> None:
    """Refuse the oracle judgment of a scenario that forgets nothing (one line: ``field``, fix)."""
    if not is_forget(scenario):
        who = "the retain oracle judges" if "oracle" in field else "relearning attacks"
        raise ConfigError(
            field,
            f"scenario {scenario.name} ({scenario.mode}) forgets no facts, and {who} "
            "forgetting only",
            "choose a forget scenario (forget-relation, forget-facts, forget-subjects, "
            f"forget-nested) or drop {field}",
        )


def stop_share(settings: Mapping[str, Any] | None) -> float | None:
    """The ``stop_share`` an editor's ``settings`` give its stopping rule (the unlearning
    trainer's defaults for what they leave out), None when it runs a fixed budget
    (``stop_when_forgotten: false``): the forget facts set apart from every forget-side figure."""
    from behemoth.editors.unlearning.trainer import UnlearnConfig

    chosen = {k: v for k, v in (settings or {}).items() if k in UnlearnConfig.model_fields}
    cfg = UnlearnConfig.model_validate(chosen)
    return cfg.stop_share if cfg.stop_when_forgotten else None


def forget_split(world: World, scenario: Scenario, share: float | None) -> ForgetSplit:
    """The split of ``scenario`` the judgment measures on (its retain mix: the rehearsed facts);
    refused when the retain mix holds a held-out subject (unlearning would rehearse the facts
    it is tested on)."""
    check_forget(scenario)
    R = world.graph.n_relations
    held_subjects = held_out_facts(scenario, R) // R
    if np.isin(scenario.retain.probes.subject, held_subjects).any():
        raise BehemothError(
            f"scenario {scenario.name}: its retain mix holds held-out subjects; "
            "unlearning would rehearse the facts it is tested on"
        )
    return ForgetSplit.from_scenario(world, scenario, scenario.retain, share)


def oracle_dirs(
    model_dir: str | Path,
    world: World,
    split: ForgetSplit,
    cache_dir: str | Path,
    replicates: int = 2,
    guard: Guard | None = None,
) -> list[Path]:
    """The directories of retain oracles 1..``replicates`` (replicates 0.. of the recipe) of the
    model in ``model_dir`` for ``split``'s forgotten facts: trained once under ``cache_dir``,
    each inside ``guard(key)`` (a lock: one forget set trains once, different ones in parallel)."""
    from behemoth.model.load import read_model_meta
    from behemoth.model.retain_oracle import oracle_plan, retain_oracle
    from behemoth.world.exclude import exclusion_mask

    if replicates < 1:
        raise ConfigError(
            "oracle_replicates",
            f"{replicates} oracles",
            "train at least 1 oracle (2 for the noise floor)",
        )
    mask = exclusion_mask(world.graph, split.forgotten, split.forget_sno)
    meta = read_model_meta(model_dir)
    lock = guard or (lambda _key: contextlib.nullcontext())
    out = []
    for i in range(replicates):
        _, _, key = oracle_plan(meta, world, mask, i)
        with lock(key):
            out.append(
                retain_oracle(
                    model_dir,
                    world,
                    split.forgotten,
                    split.forget_sno,
                    cache_dir=cache_dir,
                    replicate=i,
                )
            )
    return out


#: Measurements of oracles read from disk: (oracle dir, world, split, seed) -> Measured. A pure
#: function's memo (an oracle on disk never changes under its key), so that every method of a
#: study and every run of a sweep worker measures each oracle once.
_MEASURED: dict[tuple[str, str, str, int], Measured] = {}
_MEMO_SIZE = 8


def split_digest(split: ForgetSplit) -> str:
    """A hash of every array of ``split`` (what a measurement depends on besides the model)."""
    h = hashlib.sha256()
    for a in (split.forget, split.held_out, split.forget_sno, split.rehearsed, split.stop):
        h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
        h.update(b"|")
    return h.hexdigest()[:16]


def measure_oracle(odir: Path, world: World, split: ForgetSplit, seed: int) -> Measured:
    """:func:`measure` of the oracle in ``odir`` (loaded from disk; remembered per key)."""
    from behemoth.model import load_model

    key = (str(Path(odir).resolve()), world.fingerprint, split_digest(split), seed)
    if key not in _MEASURED:
        model, _ = load_model(odir, world)
        if len(_MEASURED) >= _MEMO_SIZE:
            _MEASURED.pop(next(iter(_MEASURED)))
        _MEASURED[key] = measure(model, world, split, seed=seed)
    return _MEASURED[key]


@dataclass
class OracleJudgment:
    """One run judged against the retain oracle(s): each model's measurement on ``split``,
    ``estimates`` (:func:`summarize` of the edited model: its own figures and, with two
    oracles, the ``noise/...`` floor) and the oracles' directories."""

    split: ForgetSplit
    edited: Measured
    original: Measured
    oracles: list[Measured]
    oracle_dirs: list[Path]
    seed: int
    estimates: dict[str, Estimate] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.estimates:
            self.estimates = self.summary(self.edited)

    @property
    def oracle2(self) -> Measured | None:
        return self.oracles[1] if len(self.oracles) > 1 else None

    def summary(self, m: Measured) -> dict[str, Estimate]:
        """The figures of any measurement ``m`` on this split (e.g. the original's, an
        oracle's) against oracle 1, with the noise floor of oracle 2."""
        oracle = self.oracles[0] if self.oracles else None
        return summarize(m, oracle, self.original, seed=self.seed, oracle2=self.oracle2)

    def oracle_keys(self) -> list[str]:
        """The oracles' cache keys (their directory names: no machine-local path)."""
        return [Path(d).name for d in self.oracle_dirs]

    def rows(self) -> list[dict[str, Any]]:
        """The record rows (group ``unlearning``, phase ``post``): one per estimate, the noise
        floor as ``noise_<metric>``; callers add the run's keys (run, seed, checkpoint)."""
        return estimate_rows(self.estimates)

    def to_json(self) -> dict[str, Any]:
        """The estimates as plain JSON (``edit.json["unlearning"]``): value, 95% interval, n."""
        return {
            "oracles": self.oracle_keys(),
            "forget_measured": len(self.split.forget),
            "stop_set_apart": len(self.split.stop),
            "estimates": {k: _estimate_json(e) for k, e in self.estimates.items()},
        }


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _estimate_json(e: Estimate) -> dict[str, Any]:
    return {"value": _finite(e.value), "ci_low": _finite(e.lo), "ci_high": _finite(e.hi), "n": e.n}


def estimate_rows(estimates: Mapping[str, Estimate]) -> list[dict[str, Any]]:
    """Record rows of :func:`summarize`'s estimates (see :meth:`OracleJudgment.rows`)."""
    rows = []
    for key, e in estimates.items():
        noise = key.startswith("noise/")
        metric, _, part = key.removeprefix("noise/").partition("/")
        better, ideal = ORACLE_METRICS.get(metric, (None, None))
        rows.append(
            {
                "metric": f"noise_{metric}" if noise else metric,
                "group": "unlearning",
                "split": part or "forgotten",
                "family": "unlearning",
                "higher_is_better": better,
                "ideal": ideal,
                "aggregation": "value",
                "value": float(e.value),
                "ci_low": _finite(e.lo),
                "ci_high": _finite(e.hi),
                "n": int(e.n),
                "phase": "post",
            }
        )
    return rows


def judge_unlearning(
    world: World,
    scenario: Scenario,
    original: torch.nn.Module | Measured,
    edited: torch.nn.Module | Measured,
    *,
    model_dir: str | Path,
    cache_dir: str | Path,
    seed: int,
    stop_share: float | None,
    replicates: int = 2,
    guard: Guard | None = None,
) -> OracleJudgment:
    """Judge ``edited`` (a model, or its measurement on this split) against the retain oracles
    of ``scenario``'s forget set (see the module doc). ``original`` is the model of
    ``model_dir`` (or its measurement); ``replicates`` oracles are trained once under
    ``cache_dir`` (each inside ``guard(key)``), the second giving the noise floor."""
    split = forget_split(world, scenario, stop_share)
    dirs = oracle_dirs(model_dir, world, split, cache_dir, replicates, guard)
    oracles = [measure_oracle(d, world, split, seed) for d in dirs]

    def measured(m: torch.nn.Module | Measured) -> Measured:
        return m if isinstance(m, Measured) else measure(m, world, split, seed=seed)

    return OracleJudgment(split, measured(edited), measured(original), oracles, dirs, seed)


def describe_judgment(j: OracleJudgment) -> str:
    """The judgment as printed lines: each figure with its 95% interval and n, and the noise
    floor (oracle 2 vs oracle 1) beside it."""
    e = j.estimates
    lines = [
        f"judged against {len(j.oracles)} retain oracle(s) (forget facts measured: "
        f"{len(j.split.forget)}; set apart for the stopping rule: {len(j.split.stop)})"
    ]
    shown = [
        ("forget_acc", "forget accuracy", 3),
        ("held_out_acc", "held-out accuracy", 3),
        ("model_utility", "model utility", 3),
        ("forget_quality", "forget quality (KS p)", 3),
        ("auc/min_k", "MIA AUC Min-K% 40%", 3),
        ("auc/loss", "MIA AUC loss", 3),
        ("auc/zlib", "MIA AUC zlib", 3),
        ("auc/min_k_pp", "MIA AUC Min-K%++", 3),
        ("privleak/min_k", "PrivLeak % Min-K% 40%", 1),
        ("privleak/loss", "PrivLeak % loss", 1),
    ]
    for key, label, digits in shown:
        if key not in e:
            continue
        est = e[key]
        text = f"p={est.value:.2g}" if key == "forget_quality" else est.fmt(digits)
        line = f"  {label:<24} {text} n={est.n}"
        noise = e.get(f"noise/{key}")
        if noise is not None:
            nt = f"p={noise.value:.2g}" if key == "forget_quality" else f"{noise.value:.{digits}f}"
            line += f"  (noise floor, oracle 2 vs 1: {nt})"
        lines.append(line)
    return "\n".join(lines)
