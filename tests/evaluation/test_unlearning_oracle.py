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
    odir = retain_oracle(tiny_model, tiny_world, split.forget, cache_dir=cache)
    first = time.perf_counter() - t0
    return {"split": split, "oracle": odir, "cache": cache, "first": first, "scenario": sc}


def test_oracle_same_budget_and_cached(tiny_model: Path, tiny_world: World, oracle_case) -> None:  # type: ignore[no-untyped-def]
    meta, ometa = read_model_meta(tiny_model), read_model_meta(oracle_case["oracle"])
    assert ometa["result"]["steps"] == meta["result"]["steps"]
    assert ometa["result"]["tokens"] == meta["result"]["tokens"]
    assert ometa["seed"] == meta["seed"]
    assert ometa["excluded_facts"]["count"] == len(oracle_case["split"].forget)
    t0 = time.perf_counter()
    again = retain_oracle(
        tiny_model, tiny_world, oracle_case["split"].forget, cache_dir=oracle_case["cache"]
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
    assert row_o["auc/loss"].value >= 0.9
    assert 0.25 <= row_r["auc/loss"].value <= 0.75  # never saw them: near chance
    assert row_r["privleak/loss"].value == 0.0 and row_o["privleak/loss"].value > 20
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
