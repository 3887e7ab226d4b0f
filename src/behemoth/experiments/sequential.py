"""Sequential-editing bookkeeping, computed while a run applies its batches (Gupta et al. 2024,
"Model editing at scale leads to gradual and catastrophic forgetting", arXiv 2401.07453).

Per batch (one edit per batch in a stream): its update norm ``|dW|_F`` (over every matrix the
batch changed) and each edit's success right after it is applied (every efficacy item of the
edit greedily answered with the new object). At every checkpoint (every ``eval_every`` batches
and at the end): retention of every earlier edit (its efficacy items still answered), the
checkpoint at which each edit that had succeeded was first forgotten, the distance of each
edited matrix from the original (``|W - W0|_F`` and ``|W - W0|_F / numel(W)``, Sec. 4), and
greedy accuracy on every probe set of the world (the downstream measure).

Detection, stated as edit indices (0-based, in the order applied):

- **Disabling edit** (Sec. 5: one edit whose update is far larger than the rest and
  disables the model): batch ``j`` is disabling when ``norm_j > factor x median(norm_0..j-1)``
  with at least ``history`` earlier batches (defaults: factor 10, history 3); its index is the
  first edit of the batch.
- **Collapse point**: the first checkpoint (in edits applied) where accuracy on the world's
  *unedited* facts (probe items whose subject and relation no applied edit changed, in the probe
  sets the model was trained on: ``ProbeSet.trained``) falls below ``fraction`` (default 0.5) x
  the unedited model's accuracy on the same items. Held-out formats never trained (e.g. the
  questions of subjects trained without them) are reported per set but never judged: the
  model never knew them, so their accuracy cannot collapse.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from behemoth.editors.base import EditResult
from behemoth.evaluation.cost import param_deltas
from behemoth.evaluation.downstream import ProbeHits, probe_hits
from behemoth.evaluation.records import Records
from behemoth.evaluation.uncertainty import wilson
from behemoth.model.scoring import score
from behemoth.progress import bars_enabled
from behemoth.scenarios.scenario import Scenario
from behemoth.world.world import World

#: Columns of ``sequential.parquet`` (one row per measure, checkpoint and split / edit).
COLUMNS = ("seed", "edits_applied", "measure", "split", "edit", "value", "n", "ci_low", "ci_high")


def disabling_edits(norms: list[float], factor: float, history: int) -> list[int]:
    """Positions ``j`` with ``norms[j] > factor x median(norms[:j])`` and ``j >= history``
    (NaN norms, e.g. a wrapper's, are never flagged and never count as history)."""
    out = []
    for j, v in enumerate(norms):
        earlier = [x for x in norms[:j] if not math.isnan(x)]
        if len(earlier) >= history and not math.isnan(v) and v > factor * float(np.median(earlier)):
            out.append(j)
    return out


def unedited_trained(
    hits: ProbeHits, reference: ProbeHits, edited: set[tuple[int, int]]
) -> tuple[float, int, float]:
    """(hits, items, the unedited model's accuracy) on the unedited items of the trained probe
    sets: the collapse point's measure (module docstring)."""
    keep = hits.unedited(edited) & hits.trained
    n = int(keep.sum())
    base = float(reference.hit[keep].mean()) if n else float("nan")
    return float(hits.hit[keep].sum()), n, base


def collapsed(k: float, n: int, base: float, fraction: float) -> bool:
    """Accuracy ``k / n`` below ``fraction`` x the unedited model's ``base``."""
    return n > 0 and k / n < fraction * base


@dataclass
class SequentialTracker:
    """Collects the sequential measures of one run; hook it into ``run_edit`` with
    ``on_batch=tracker.after_batch, on_checkpoint=tracker.at_checkpoint``."""

    reference: torch.nn.Module
    world: World
    scenario: Scenario
    seed: int | None = None
    factor: float = 10.0
    history: int = 3
    fraction: float = 0.5
    progress: bool = False
    rows: list[dict[str, Any]] = field(default_factory=list)
    batch_norms: list[float] = field(default_factory=list)
    batch_first_edit: list[int] = field(default_factory=list)
    immediate: dict[int, bool] = field(default_factory=dict)
    forgotten: dict[int, int] = field(default_factory=dict)
    collapse_point: int | None = None
    checkpoints: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        eff = [t for t in self.scenario.tests.values() if t.group == "efficacy"]
        self._eff = eff[0] if eff else None
        self._ref_hits: ProbeHits = probe_hits(self.reference, self.world)
        self._bar: Any = None
        self._weights: torch.nn.Module | None = None
        if self.progress and bars_enabled():
            from tqdm import tqdm

            self._bar = tqdm(
                total=len(self.scenario.requests), desc="edits", unit="edit", file=sys.stderr
            )
        self._world_rows(0, self._ref_hits)

    # -- hooks ---------------------------------------------------------------------------------
    def after_batch(self, i: int, batch: list[int], result: EditResult) -> None:
        """The batch's update norm and each of its edits' immediate success."""
        norm = result.update_fro  # NaN for a wrapper: no weight changes
        self.batch_norms.append(norm)
        self.batch_first_edit.append(batch[0])
        self._weights = result.weights()
        applied = batch[-1] + 1
        self._row(applied, "update_norm", "batch", batch[0], norm, len(result.norms))
        if self._eff is not None:
            rows = np.flatnonzero(np.isin(self._eff.edit, batch))
            t = self._eff.subset(rows)
            hit = score(result.model, t.probes).pred == t.target
            for e in batch:
                mine = hit[t.edit == e]
                if len(mine):
                    self.immediate[e] = bool(mine.all())
                    self._row(applied, "edit_success", "immediate", e, float(mine.all()), len(mine))
        if self._bar is not None:
            done = list(self.immediate.values())
            self._bar.set_postfix(efficacy=f"{np.mean(done):.2f}" if done else "-")
            self._bar.update(len(batch))

    def at_checkpoint(self, applied: int, model: torch.nn.Module, records: Records) -> None:
        """Retention, first-forgotten checkpoints, weight distances and world accuracy."""
        self.checkpoints.append(applied)
        ok = self._retained(records)
        if ok:
            k = sum(ok.values())
            self._interval_row(applied, "retention", "edits_so_far", k, len(ok))
            was = [e for e in ok if self.immediate.get(e)]
            self._interval_row(
                applied, "retention", "immediately_successful", sum(ok[e] for e in was), len(was)
            )
            for e in was:
                if not ok[e] and e not in self.forgotten:
                    self.forgotten[e] = applied
        # the plain weights holding the edits (an adapter merged; a wrapper's base, unchanged)
        weights = self._weights if self._weights is not None else model
        for name, d in param_deltas(weights, self.reference).items():
            fro = float(d.double().norm())
            self._row(applied, "weight_distance", name, -1, fro, 1)
            self._row(applied, "weight_distance_per_numel", name, -1, fro / d.numel(), 1)
        self._world_rows(applied, probe_hits(model, self.world))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    # -- results -------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Detection results and per-edit bookkeeping (JSON-ready)."""
        flagged = disabling_edits(self.batch_norms, self.factor, self.history)
        edits = [self.batch_first_edit[j] for j in flagged]
        return {
            "disabling_edits": edits,
            "disabling_edit": edits[0] if edits else None,
            "disabling_rule": f"update norm > {self.factor:g} x median of the earlier updates "
            f"(after at least {self.history})",
            "collapse_point": self.collapse_point,
            "collapse_rule": f"first checkpoint (edits applied) where unedited-fact accuracy "
            f"(trained probe sets) < "
            f"{self.fraction:g} x the unedited model's",
            "checkpoints": self.checkpoints,
            "immediate_success": float(np.mean(list(self.immediate.values())))
            if self.immediate
            else None,
            "first_forgotten": {str(e): c for e, c in sorted(self.forgotten.items())},
        }

    def describe(self) -> str:
        s = self.summary()
        dis = s["disabling_edit"]
        col = s["collapse_point"]
        return (
            f"disabling edit: {'none' if dis is None else f'edit {dis}'} ({s['disabling_rule']}); "
            f"collapse point: {'none' if col is None else f'{col} edits'} ({s['collapse_rule']})"
        )

    # -- helpers -------------------------------------------------------------------------------
    def _retained(self, records: Records) -> dict[int, bool]:
        """Per applied edit: every one of its efficacy items answered (from the records)."""
        out: dict[int, bool] = {}
        for t in records.items:
            if t.num_rows == 0 or t.column("metric")[0].as_py() != "efficacy":
                continue
            if t.column("group")[0].as_py() != "efficacy":
                continue
            edit = t.column("edit").to_numpy()
            val = t.column("value").to_numpy(zero_copy_only=False)
            for e in np.unique(edit):
                out[int(e)] = bool((val[edit == e] == 1.0).all())
        return out

    def _world_rows(self, applied: int, hits: ProbeHits) -> None:
        for name, h in hits.per_set().items():
            self._interval_row(applied, "probe_accuracy", name, float(h.sum()), len(h))
        edited = {
            (self.scenario.requests[e].subject, self.scenario.requests[e].relation)
            for e in range(applied)
        }
        k, n, base = unedited_trained(hits, self._ref_hits, edited)
        self._interval_row(applied, "unedited_accuracy", "world", k, n)
        if applied > 0 and self.collapse_point is None and collapsed(k, n, base, self.fraction):
            self.collapse_point = applied

    def _interval_row(self, applied: int, measure: str, split: str, k: float, n: int) -> None:
        lo, hi = wilson(k, n)
        self._row(applied, measure, split, -1, k / n if n else float("nan"), n, lo, hi)

    def _row(
        self,
        applied: int,
        measure: str,
        split: str,
        edit: int,
        value: float,
        n: int,
        lo: float = float("nan"),
        hi: float = float("nan"),
    ) -> None:
        self.rows.append(
            dict(zip(COLUMNS, (self.seed, applied, measure, split, edit, value, n, lo, hi)))
        )
