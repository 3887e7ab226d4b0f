"""Sequential bookkeeping: the detection rule, the printed tables and the pure plot."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np

from behemoth.evaluation.downstream import ProbeHits
from behemoth.experiments.sequential import COLUMNS, collapsed, disabling_edits, unedited_trained
from behemoth.experiments.summary import checkpoint_table


def test_disabling_edit_is_a_jump_over_the_median_of_earlier_updates() -> None:
    norms = [1.0, 1.2, 0.9, 1.1, 30.0, 1.0, 50.0]
    assert disabling_edits(norms, factor=10, history=3) == [4, 6]
    assert disabling_edits(norms, factor=100, history=3) == []
    assert disabling_edits([50.0, 1.0, 1.0], factor=10, history=3) == []  # too little history
    assert disabling_edits([1.0, math.nan, 1.0, 1.0, 20.0], factor=10, history=3) == [4]


def _hits(trained_hit: float, held_out_hit: float) -> ProbeHits:
    """10 items of a trained set (subjects 0-9) and 30 of an untrained held-out set (10-39),
    relation 0; one item of each set is the edited fact (subject 0 / 10)."""
    n_tr, n_ho = 10, 30
    return ProbeHits(
        names=["sro", "question_held_out"],
        bounds=np.array([0, n_tr, n_tr + n_ho]),
        hit=np.concatenate([np.full(n_tr, trained_hit), np.full(n_ho, held_out_hit)]),
        subject=np.arange(n_tr + n_ho),
        relation=np.zeros(n_tr + n_ho, dtype=np.int64),
        trained=np.array([True] * n_tr + [False] * n_ho),
    )


def test_collapse_is_judged_on_trained_probe_sets_only() -> None:
    # The untrained set falls from 1 to 0 while every trained fact is kept: counted, it would
    # be 9/38 < 0.5 x 1 (a collapse); the rule must see 9/9.
    ref, now = _hits(1.0, 1.0), _hits(1.0, 0.0)
    edited = {(0, 0), (10, 0)}
    k, n, base = unedited_trained(now, ref, edited)
    assert (k, n, base) == (9.0, 9, 1.0)
    assert not collapsed(k, n, base, fraction=0.5)
    # and a collapse on the trained set is found whatever the held-out set does
    k, n, base = unedited_trained(_hits(0.0, 1.0), ref, edited)
    assert (k, n) == (0.0, 9) and collapsed(k, n, base, fraction=0.5)


def _rows() -> list[dict[str, object]]:
    def row(applied: int, measure: str, split: str, value: float, n: int) -> dict[str, object]:
        return dict(zip(COLUMNS, (0, applied, measure, split, -1, value, n, 0.1, 0.9)))

    rows = []
    for applied in (0, 2, 4):
        rows.append(row(applied, "unedited_accuracy", "world", 0.9 - 0.1 * applied, 100))
        rows.append(row(applied, "probe_accuracy", "train/sro", 0.9, 50))
        if applied:
            rows.append(row(applied, "retention", "edits_so_far", 1.0 - 0.25 * applied, applied))
            rows.append(row(applied, "weight_distance_per_numel", "w", 1e-4 * applied, 1))
            rows.append({**row(applied, "update_norm", "batch", float(applied), 1), "edit": 0})
    return rows


def test_checkpoint_table_shows_n_and_intervals() -> None:
    text = checkpoint_table(_rows())
    lines = text.splitlines()
    assert len(lines) == 2 + 3 and "95% interval" in lines[0] and " n" in lines[0]
    assert "[0.1000, 0.9000]" in lines[-1] and "0.5000" in lines[-1]


def test_plot_is_pure_and_writes_a_png(tmp_path: Path) -> None:
    code = (
        "import sys, json\n"
        "from behemoth.experiments.sequential_plot import plot_sequential\n"
        f"rows = json.loads({_json(_rows())!r})\n"
        "runs = [{'seed': 0, 'sequential': {'disabling_edit': 1, 'collapse_point': 4}}]\n"
        f"plot_sequential(rows, runs, {str(tmp_path / 'p.png')!r})\n"
        "assert 'torch' not in sys.modules, 'the plot imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert (tmp_path / "p.png").stat().st_size > 1000


def _json(x: object) -> str:
    import json

    return json.dumps(x)
