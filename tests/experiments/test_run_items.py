"""A run over several seeds and replicates keeps every item apart: its items name both."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from behemoth.evaluation.records import Records
from behemoth.experiments.run import _tagged


def _one(value: float) -> Records:
    r = Records()
    args = (np.array([0, 1]), np.array([1, 2]), np.array([0, 0]), np.array([value, 0.0]))
    r.add_items("run", "efficacy", "efficacy", "sro", *args, edits_applied=2)
    r.add_items("run", "efficacy", "efficacy", "sro", *args, phase="pre", edits_applied=0)
    return r


def test_items_of_seeds_and_replicates_are_written_apart(tmp_path) -> None:
    rec = Records()
    for rep in (0, 1):
        for seed in (0, 1):
            rec.extend(_tagged(_one(float(rep)), seed, rep))
    rec.write(tmp_path)
    items = pq.read_table(tmp_path / "items.parquet").to_pandas()
    assert len(items) == 2 * 2 * 4
    assert set(zip(items["seed"], items["replicate"])) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    post = items[(items["phase"] == "post") & (items["item"] == 0)]
    assert dict(zip(post["replicate"], post["value"])) == {0: 0.0, 1: 1.0}
