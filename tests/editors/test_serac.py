"""SERAC: training data (scope pairs, hard negatives, no test fact), the wrapper's contract
(empty memory = base outputs, base untouched, copy-on-edit, routing, save/load) and, slow, that
trained networks route and answer edits on facts they never saw."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from behemoth.editors.serac import (
    SeracModel,
    SeracNets,
    SeracNetsConfig,
    check_disjoint,
    scenario_training_facts,
    train_nets,
)
from behemoth.editors.serac.metrics import drawdown, edit_success
from behemoth.editors.serac.pairs import POSITIVES, PairSampler
from behemoth.editors.serac.train import test_facts as scenario_test_facts
from behemoth.errors import BehemothError
from behemoth.evaluation.evaluate import evaluate
from behemoth.scenarios.scenario import Scenario, build_scenario
from behemoth.world import World

SMALL = {"width": 32, "embed_dim": 16, "scratch_rows": 256, "steps": 1}


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a second thread only spins on a busy machine
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def stream(tiny_world: World) -> Scenario:
    return build_scenario(tiny_world, "stream", {"n": 30})


@pytest.fixture(scope="module")
def base(tiny_world: World, one_thread: None) -> GPTNeoXForCausalLM:
    cfg = GPTNeoXConfig(
        vocab_size=tiny_world.vocab.size + 6,  # wider than the world, as padded vocabularies are
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return GPTNeoXForCausalLM(cfg).eval()


def _nets(world: World, facts: np.ndarray, **kw: object) -> SeracNets:
    return SeracNets.build(
        SeracNetsConfig.from_dict({**SMALL, **kw}), world.vocab.size, world.fingerprint, facts
    ).eval()


def test_training_facts_never_include_a_test_fact(tiny_world: World, stream: Scenario) -> None:
    facts = scenario_training_facts(stream)
    assert len(facts) > 10
    seen = {(int(s), int(r)) for s, r in facts}
    assert not seen & scenario_test_facts(stream)
    check_disjoint(_nets(tiny_world, facts), stream)
    leak = np.concatenate([facts, [[stream.requests[0].subject, stream.requests[0].relation]]])
    with pytest.raises(BehemothError, match="trained on 1 fact"):
        check_disjoint(_nets(tiny_world, leak), stream)


def _fact(world: World, seq: np.ndarray) -> tuple[int, int]:
    """(subject, relation) named in a prompt (one token per subject in the tiny world)."""
    s_lo, s_hi = world.vocab.ranges["subject"]
    r_lo, r_hi = world.vocab.ranges["relation"]
    s = [int(t) - s_lo for t in seq if s_lo <= t < s_hi]
    r = [int(t) - r_lo for t in seq if r_lo <= t < r_hi]
    assert len(s) == 1 and len(r) == 1
    return s[0], r[0]


def test_pairs_are_in_scope_or_hard_negatives(tiny_world: World, stream: Scenario) -> None:
    facts = scenario_training_facts(stream)
    allowed = {(int(s), int(r)) for s, r in facts}
    sampler = PairSampler(tiny_world, facts, np.random.default_rng(0), 0, 0.0)
    b = sampler.sample(40)
    per = len(b.labels) // 40
    kinds = {"same_subject": 0, "same_relation": 0}
    for i in range(40):
        edit = _fact(tiny_world, b.edits[i][~b.edits_pad[i]].numpy())
        assert edit in allowed
        for j in range(per):
            k = i * per + j
            q = _fact(tiny_world, b.queries[k][~b.queries_pad[k]].numpy())
            assert q in allowed and int(b.group[k]) == i
            assert (q == edit) == (j < POSITIVES) == bool(b.labels[k])
            kinds["same_subject"] += j == POSITIVES and q[0] == edit[0]
            kinds["same_relation"] += j == POSITIVES + 1 and q[1] == edit[1]
    assert kinds["same_subject"] >= 30 and kinds["same_relation"] >= 30
    assert bool((b.cf_target >= 0).all()) and len(b.cf_target) == 40 * POSITIVES


def test_wrapper_contract(
    tiny_world: World, stream: Scenario, base: GPTNeoXForCausalLM, tmp_path: Path
) -> None:
    before = {k: v.clone() for k, v in base.state_dict().items()}
    nets = _nets(tiny_world, scenario_training_facts(stream))
    nets_dir = tmp_path / "nets"
    nets_dir.mkdir()
    nets.save(nets_dir)
    assert SeracNets.load(nets_dir).tensors().keys() == nets.tensors().keys()
    ids = torch.from_numpy(next(tiny_world.probes["rso"].batches(16))[1])
    empty = SeracModel.empty(base, nets)
    assert torch.equal(empty(input_ids=ids).logits, base(input_ids=ids).logits)
    # a threshold near 0 routes every query: the last logits are the counterfactual model's
    edited = SeracModel.empty(base, nets, threshold=1e-30).edit(stream.requests[:5])
    assert len(edited.edits) == 5 and edited.edits.targets[0] == stream.requests[0].target_new
    out = edited(input_ids=ids).logits[:, -1]
    V = tiny_world.vocab.size
    assert bool((out[:, V:] == -1e9).all())
    assert torch.equal(edited(input_ids=ids).logits[:, :-1], base(input_ids=ids).logits[:, :-1])
    assert not torch.equal(out[:, :V], base(input_ids=ids).logits[:, -1, :V])
    # copy-on-edit, base untouched
    assert SeracModel.empty(base, nets).is_empty()
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())
    # save / reload: networks and memory give identical logits
    edited.save_pretrained(tmp_path / "mem")
    again = SeracModel.load(tmp_path / "mem", base)
    assert isinstance(again, SeracModel) and again.edits == edited.edits
    assert torch.equal(again(input_ids=ids).logits, edited(input_ids=ids).logits)


@pytest.mark.slow
def test_trained_networks_route_unseen_facts(
    tiny_world: World, stream: Scenario, base: GPTNeoXForCausalLM
) -> None:
    """300 steps on the retain mix; the stream's edits (never seen) are answered in every
    format, and untouched facts stay with the base model."""
    facts = scenario_training_facts(stream)
    nets = train_nets(tiny_world, facts, SeracNetsConfig(steps=300), progress=False)
    assert nets.metrics["held_out_subjects"]["precision"] >= 0.9
    model = SeracModel.empty(base, nets).edit(stream.requests)
    rows = evaluate(model, tiny_world, stream, base).rows
    assert edit_success(rows) >= 0.8
    assert drawdown(rows) <= 0.05


def test_headline_metrics_read_post_edit_rows_only() -> None:
    """The suite also writes the unedited model's rows (phase "pre") on the same items; they
    must not dilute SERAC's edit success and drawdown."""
    rows = [
        {"phase": "post", "metric": "efficacy", "group": "efficacy", "value": 1.0, "n": 10},
        {
            "phase": "post",
            "metric": "generalization",
            "group": "generalization",
            "value": 0.5,
            "n": 30,
        },
        {"phase": "post", "metric": "drawdown", "group": "specificity", "value": 0.1, "n": 20},
        {"phase": "pre", "metric": "efficacy", "group": "efficacy", "value": 0.0, "n": 10},
        {
            "phase": "pre",
            "metric": "generalization",
            "group": "generalization",
            "value": 0.0,
            "n": 30,
        },
        {"phase": "pre", "metric": "drawdown", "group": "specificity", "value": 0.9, "n": 20},
    ]
    assert edit_success(rows) == pytest.approx((10 * 1.0 + 30 * 0.5) / 40)
    assert drawdown(rows) == pytest.approx(0.1)


@pytest.mark.parametrize("steps", [1, 2, 20])
def test_short_training_runs(tiny_world: World, stream: Scenario, steps: int) -> None:
    """A few steps (smoke tests, quick settings) train without the one-cycle schedule, whose
    sub-step warmup divided by zero below 21 steps."""
    nets = train_nets(
        tiny_world, scenario_training_facts(stream), SeracNetsConfig(steps=steps), progress=False
    )
    assert nets.metrics  # trained and validated
