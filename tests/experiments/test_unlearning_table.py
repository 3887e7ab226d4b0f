"""The unlearning study's table: every number with its 95% interval and n (synthetic results,
no model)."""

from __future__ import annotations

import numpy as np

from behemoth.evaluation.unlearning.mia import ATTACKS
from behemoth.evaluation.unlearning.relearn import Relearning
from behemoth.evaluation.unlearning.report import Measured, summarize
from behemoth.experiments.unlearning import COLUMNS, Row, table_markdown


def _measured(rng: np.random.Generator, forget_acc: float, member_shift: float) -> Measured:
    n_f, n_r = 40, 60
    return Measured(
        forget_correct=(rng.random(n_f) < forget_acc).astype(float),
        held_correct=(rng.random(n_f) < 0.9).astype(float),
        retain_correct={"sro": (rng.random(n_r) < 0.95).astype(float)},
        retain_prob={"sro": rng.uniform(0.5, 1.0, n_r)},
        retain_tr={"sro": rng.uniform(0.0, 0.8, n_r)},
        forget_tr=rng.uniform(0.2, 1.5, n_f),
        mia_member={a: rng.normal(member_shift, 1.0, n_f) for a in ATTACKS},
        mia_nonmember={a: rng.normal(0.0, 1.0, n_f) for a in ATTACKS},
    )


def test_every_cell_has_an_interval_and_n() -> None:
    rng = np.random.default_rng(0)
    original, oracle = _measured(rng, 1.0, 2.0), _measured(rng, 0.1, 0.0)
    unlearned = _measured(rng, 0.3, 0.5)
    metrics = summarize(unlearned, oracle, original)
    for key in ("model_utility", "privleak/loss"):  # derived numbers get intervals too
        e = metrics[key]
        assert np.isfinite(e.lo) and e.lo <= e.value <= e.hi and e.n > 0, (key, e)
    row = Row("ga", metrics, Relearning(5, 0.5, 50), 1.0)
    table = table_markdown([row], "sro").splitlines()
    cells = [c.strip() for c in table[2].strip("|").split("|")]
    assert len(cells) == 1 + len(COLUMNS) + 2
    for (key, _), cell in zip(COLUMNS, cells[1:]):
        assert " n=" in cell, (key, cell)
        if key != "forget_quality":  # a p-value: n only
            assert "[" in cell and "]" in cell, (key, cell)


def test_noise_floor_and_muse_columns() -> None:
    """With a second oracle every row carries oracle 2 vs oracle 1 (the noise floor); the table
    leads with MUSE's PrivLeak (Min-K% 40%), LOSS beside it; an unforgotten model's is < 0."""
    rng = np.random.default_rng(1)
    original, oracle, oracle2 = (
        _measured(rng, 1.0, 2.0),
        _measured(rng, 0.1, 0.0),
        _measured(rng, 0.1, 0.0),
    )
    row = summarize(original, oracle, original, oracle2=oracle2)
    for key in ("noise/forget_quality", "noise/ks_d", "noise/auc/min_k", "noise/privleak/min_k"):
        assert key in row and np.isfinite(row[key].value), key
    assert "noise/auc/min_k" not in summarize(original, oracle, original)
    assert row["privleak/min_k"].value < -50 and row["auc/min_k"].value < 0.2
    keys = [k for k, _ in COLUMNS]
    assert keys.index("privleak/min_k") < keys.index("privleak/loss")
