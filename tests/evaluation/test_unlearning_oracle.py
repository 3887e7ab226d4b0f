"""The retain oracle on the tiny model: trained once for the original's exact step count on a
corpus without the forget set, cached and reused; judged by the unlearning report, the original
model remembers the forget set (forget quality ~0, MIA AUC ~1) and the oracle does not."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from behemoth.evaluation.unlearning.relearn import relearn
from behemoth.evaluation.unlearning.report import ForgetSplit, measure, summarize
from behemoth.model import load_model, read_model_meta
from behemoth.model.retain_oracle import retain_oracle, training_seconds
from behemoth.scenarios.render import edge_prompts
from behemoth.scenarios.scenario import build_scenario
from behemoth.world import World

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def oracle_case(tiny_model: Path, tiny_world: World, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    sc = build_scenario(tiny_world, "forget-relation", {"share": 0.5, "relation": 1})
    split = ForgetSplit.from_scenario(tiny_world, sc, sc.retain)
    cache = tmp_path_factory.mktemp("oracles")
    t0 = time.perf_counter()
    odir = retain_oracle(tiny_model, tiny_world, split.forgotten, cache_dir=cache)
    first = time.perf_counter() - t0
    return {"split": split, "oracle": odir, "cache": cache, "first": first, "scenario": sc}


def test_oracle_same_budget_and_cached(tiny_model: Path, tiny_world: World, oracle_case) -> None:  # type: ignore[no-untyped-def]
    meta, ometa = read_model_meta(tiny_model), read_model_meta(oracle_case["oracle"])
    assert ometa["result"]["steps"] == meta["result"]["steps"]
    assert ometa["result"]["tokens"] == meta["result"]["tokens"]
    assert ometa["seed"] == meta["seed"]
    assert ometa["excluded_facts"]["count"] == len(oracle_case["split"].forgotten)
    t0 = time.perf_counter()
    again = retain_oracle(
        tiny_model, tiny_world, oracle_case["split"].forgotten, cache_dir=oracle_case["cache"]
    )
    assert again == oracle_case["oracle"] and time.perf_counter() - t0 < 5
    # the cost, side by side (printed: timings are never asserted)
    ratio = training_seconds(oracle_case["oracle"]) / training_seconds(tiny_model)
    print(f"oracle {oracle_case['first']:.1f} s; oracle/original training time {ratio:.2f}")


def test_report_separates_original_and_oracle(
    tiny_model: Path, tiny_world: World, oracle_case
) -> None:  # type: ignore[no-untyped-def]
    split = oracle_case["split"]
    original, _ = load_model(tiny_model, tiny_world)
    oracle, _ = load_model(oracle_case["oracle"], tiny_world)
    m_orig, m_or = measure(original, tiny_world, split), measure(oracle, tiny_world, split)
    row_o = summarize(m_orig, m_or, m_orig)
    row_r = summarize(m_or, m_or, m_orig)
    assert row_o["forget_acc"].value >= 0.9 and row_r["forget_acc"].value <= 0.2
    assert row_r["held_out_acc"].value >= 0.8  # the oracle still knows the held-out subjects
    assert row_r["retain_acc/sro"].value >= 0.9
    assert row_r["forget_quality"].value == 1.0  # identical distributions
    assert row_o["forget_quality"].value < 0.01
    # MUSE's orientation: the original still recognizes its forget set (AUC near 0), the
    # oracle never saw it (near chance); the original's PrivLeak is negative (under-unlearned)
    assert row_o["auc/loss"].value <= 0.1 and row_o["auc/min_k"].value <= 0.1
    assert 0.25 <= row_r["auc/loss"].value <= 0.75
    assert row_r["privleak/min_k"].value == 0.0 and row_o["privleak/min_k"].value < -50
    assert row_o["privleak/loss"].value < -50
    print(
        "PrivLeak of the original (Min-K% 40% / loss): "
        f"{row_o['privleak/min_k'].value:.1f}% / {row_o['privleak/loss'].value:.1f}%; "
        f"Min-K% k = {row_o['min_k_tokens'].value:.0f} tokens"
    )
    assert row_o["model_utility"].value > 0.5
    # relearning half the forgotten facts: they are independent, so the oracle gains nothing
    R = tiny_world.graph.n_relations
    f = split.forget
    half = len(f) // 2

    def probes(flat: np.ndarray):  # type: ignore[no-untyped-def]
        s, r = flat // R, flat % R
        return edge_prompts(tiny_world, "sro", "S-O", s, r, tiny_world.graph.objects[s, r])

    res = relearn(oracle, probes(f[:half]), probes(f[half:]), max_steps=15)
    assert res.steps is None and max(res.curve) < 0.5
    assert relearn(original, probes(f[:half]), probes(f[half:])).steps == 0


def test_second_oracle_gives_the_noise_floor(
    tiny_model: Path, tiny_world: World, oracle_case
) -> None:  # type: ignore[no-untyped-def]
    """Replicate 1 of the recipe (other init and data order) trained on the same padded stream:
    oracle 2 judged against oracle 1 is the noise floor of forget quality, AUC and PrivLeak."""
    split = oracle_case["split"]
    o2 = retain_oracle(
        tiny_model, tiny_world, split.forgotten, cache_dir=oracle_case["cache"], replicate=1
    )
    assert o2 != oracle_case["oracle"]
    meta2, meta = read_model_meta(o2), read_model_meta(tiny_model)
    assert meta2["result"]["steps"] == meta["result"]["steps"]
    original, _ = load_model(tiny_model, tiny_world)
    m1 = measure(load_model(oracle_case["oracle"], tiny_world)[0], tiny_world, split)
    m2 = measure(load_model(o2, tiny_world)[0], tiny_world, split)
    m_orig = measure(original, tiny_world, split)
    row = summarize(m_orig, m1, m_orig, oracle2=m2)
    for key in ("noise/forget_quality", "noise/ks_d", "noise/auc/min_k", "noise/privleak/min_k"):
        assert key in row and np.isfinite(row[key].value), key
    assert row["noise/auc/min_k"].value > 0.2  # another oracle: it never saw them either
    assert row["forget_quality"].value < row["noise/forget_quality"].value
    print(
        "noise floor (oracle 2 vs oracle 1): "
        f"KS p={row['noise/forget_quality'].value:.3g} D={row['noise/ks_d'].value:.3f}, "
        f"AUC Min-K% {row['noise/auc/min_k'].value:.3f} (oracle 1 "
        f"{summarize(m1, m1, m_orig)['auc/min_k'].value:.3f}), "
        f"PrivLeak Min-K% {row['noise/privleak/min_k'].value:.1f}%, "
        f"loss {row['noise/privleak/loss'].value:.1f}%"
    )
