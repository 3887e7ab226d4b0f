"""Issue 21: in a stream, the specificity splits that belong to one edit (``same_subject``,
``same_value``, ``same_new_value``) cover only the edits applied so far, like efficacy does."""

from __future__ import annotations

import numpy as np

from behemoth.evaluation.evaluate import evaluate
from behemoth.evaluation.oracle import oracle_model
from behemoth.scenarios.scenario import build_scenario
from behemoth.world import World

EDIT_SPECIFICITY = ("same_subject", "same_value", "same_new_value")


def test_stream_specificity_items_belong_to_applied_edits(tiny_world: World) -> None:
    sc = build_scenario(tiny_world, "stream", {"n": 40, "batch_size": 4, "specificity_size": 400})
    model = oracle_model(tiny_world)
    full = {t.split: t for t in sc.tests.values() if t.group == "specificity"}
    for split in EDIT_SPECIFICITY:  # the scenario has later edits' items to leave out
        assert (full[split].edit >= 12).any(), split
    rec = evaluate(model, tiny_world, sc, upto=12)
    items = rec.items_table().to_pandas()
    spec = items[items["group"] == "specificity"]
    for split in EDIT_SPECIFICITY:
        got = spec[spec["split"] == split]
        assert len(got), split
        assert (got["edit"] < 12).all(), split  # only applied edits' neighbours
        ns = {r["n"] for r in rec.rows if r.get("split") == split and r.get("phase") == "post"}
        assert ns == {int((full[split].edit < 12).sum())}, (split, ns)
    # without ``upto`` every item is kept
    all_items = evaluate(model, tiny_world, sc).items_table().to_pandas()
    for split in EDIT_SPECIFICITY:
        n = (all_items["split"] == split) & (all_items["group"] == "specificity")
        per_metric = all_items[n].groupby("metric").size()
        assert set(per_metric) == {len(full[split])}
    assert np.isfinite(rec.value("specificity"))
