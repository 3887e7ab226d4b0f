"""The exposure study (issue 25): per-fact scoring of a trained model, the sweep preset."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from behemoth.world import World


def test_score_facts_one_row_per_so_fact_with_exposure(tiny_world: World, tiny_model: Path):
    from behemoth.analysis.exposure import learning_curves
    from behemoth.experiments.exposure import score_facts
    from behemoth.model import load_model
    from behemoth.model.scoring import probe_accuracy, score
    from behemoth.world.exposure import fact_exposure

    model, _ = load_model(tiny_model, tiny_world)
    facts = score_facts(model, tiny_world, replicate=3)
    S, R = tiny_world.graph.objects.shape
    assert len(facts) == S * R and facts["fact"].tolist() == list(range(S * R))
    assert (facts["replicate"] == 3).all()
    assert (facts["subject"] * R + facts["relation"] == facts["fact"]).all()
    counts = fact_exposure(tiny_world)
    assert (facts["exposure"].to_numpy() == counts[: S * R]).all()
    # the per-fact correctness averages to the world's probe accuracy; loss is an NLL
    acc = probe_accuracy(model, tiny_world.probes["sro"])
    assert facts["correct"].mean() == acc
    assert (facts["loss"] >= 0).all()
    # where greedy is right, the object's NLL is the greedy token's: -log of the top probability
    got = score(model, tiny_world.probes["sro"])
    right = facts["correct"].to_numpy()
    assert np.allclose(facts["loss"].to_numpy()[right], -got.pred_logprob[right])
    curves = learning_curves(facts)
    assert curves["n"].sum() == S * R
