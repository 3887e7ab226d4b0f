"""The evaluation suite on models edited by construction (forced logits): exact scores.

The unedited oracle answers every probe of the world; the ideal oracle also answers every
edited, implied and forgotten prompt with its target. Their scores are known exactly.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from behemoth.errors import ConfigError
from behemoth.evaluation.cost import measure_cost, param_deltas
from behemoth.evaluation.evaluate import evaluate, evaluate_probes
from behemoth.evaluation.oracle import oracle_model
from behemoth.evaluation.records import PROTOCOL, PROTOCOL_VERSION, read_records
from behemoth.model.scoring import score
from behemoth.scenarios.scenario import build_scenario
from behemoth.world import World
from behemoth.world.vocab import EOT, PAD

CASES = [
    ("tiny_world", "single", {}),
    ("tiny_world", "k-different", {"k": 4}),
    ("tiny_world", "k-identical", {"k": 3}),
    ("tiny_world", "stream", {"n": 10}),
    ("q_world", "refusal", {"k": 4, "format": "question"}),
    ("nested_world", "k-different", {"k": 3}),
    ("corr_world", "k-different", {"k": 5}),
    ("nested_world", "nested-ono", {"k": 2}),
]


def small_model(world: World, seed: int = 0) -> GPTNeoXForCausalLM:
    cfg = GPTNeoXConfig(
        vocab_size=world.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        bos_token_id=EOT,
        eos_token_id=EOT,
        pad_token_id=PAD,
        use_cache=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GPTNeoXForCausalLM(cfg).eval()


def _by(rec, metric: str, phase: str = "post"):  # type: ignore[no-untyped-def]
    return [r for r in rec.rows if r["metric"] == metric and r.get("phase") == phase]


@pytest.mark.parametrize("world_name,name,over", CASES)
def test_unedited_and_ideal_oracles(
    request: pytest.FixtureRequest, world_name: str, name: str, over: dict
) -> None:
    world = request.getfixturevalue(world_name)
    sc = build_scenario(world, name, over)
    base = oracle_model(world)
    ideal = oracle_model(world, sc)
    hi, lo = base.logprob_answer(), base.logprob_other()
    rec0 = evaluate(base, world, sc, reference_model=base)
    rec1 = evaluate(ideal, world, sc, reference_model=base)
    # unedited: efficacy 0, specificity 1, locality 1; ideal: efficacy 1, specificity 1, locality 1
    for r in _by(rec0, "efficacy") + _by(rec0, "generalization") + _by(rec0, "portability"):
        assert r["value"] == 0.0
    for r in _by(rec1, "efficacy") + _by(rec1, "generalization") + _by(rec1, "portability"):
        assert r["value"] == 1.0
    for rec in (rec0, rec1):
        assert _by(rec, "specificity") and all(r["value"] == 1.0 for r in _by(rec, "specificity"))
        assert all(r["value"] == 1.0 for r in _by(rec, "locality"))
    assert rec0.value("efficacy") == 0.0 and rec1.value("efficacy") == 1.0
    # probability family: ES/PS exact, magnitudes = +-(hi - lo)
    assert rec0.value("efficacy_score") == 0.0 and rec1.value("efficacy_score") == 1.0
    assert rec1.value("efficacy_magnitude") == pytest.approx(hi - lo)
    assert rec0.value("efficacy_magnitude") == pytest.approx(lo - hi)
    for r in _by(rec1, "neighborhood_score"):
        assert r["value"] == 1.0
    if sc.mode == "edit" and world_name in ("nested_world", "corr_world") and name == "k-different":
        assert _by(rec1, "portability") and rec1.value("portability_kept") == 0.0
        assert rec0.value("portability_kept") == 1.0


def test_forgetting_scores(tiny_world: World) -> None:
    sc = build_scenario(tiny_world, "forget-relation", {"share": 0.6})
    base, ideal = oracle_model(tiny_world), oracle_model(tiny_world, sc)
    rec0 = evaluate(base, tiny_world, sc)
    rec1 = evaluate(ideal, tiny_world, sc)
    assert (
        rec0.value("forget_accuracy", "forgotten") == 1.0
        and rec1.value("forget_accuracy", "forgotten") == 0.0
    )
    assert (
        rec0.value("forget_accuracy", "held_out") == 1.0
        and rec1.value("forget_accuracy", "held_out") == 0.0
    )
    assert rec0.value("refusal_rate") == 0.0 and rec1.value("refusal_rate") == 1.0
    assert rec0.value("old_mass") == pytest.approx(math.exp(base.logprob_answer()))
    assert rec1.value("old_mass") == pytest.approx(math.exp(base.logprob_other()))
    assert rec0.value("membership_auc") == 1.0  # the true fact is far likelier than an unseen one
    assert rec1.value("membership_auc") == 0.5  # forgotten: indistinguishable
    assert rec1.value("specificity") == 1.0


def test_upto_keeps_only_applied_edits(tiny_world: World) -> None:
    sc = build_scenario(tiny_world, "stream", {"n": 10, "batch_size": 2})
    half = oracle_model(tiny_world)
    for q in sc.requests[:4]:  # only the first four edits "applied" (statement format only)
        half.table[tuple(q.prompt)] = q.target_new
    rec = evaluate(half, tiny_world, sc, upto=4, extra={"step": 2})
    assert rec.value("efficacy") == 1.0
    r = _by(rec, "efficacy")[0]
    assert r["n"] == 4 and r["edits_applied"] == 4 and r["step"] == 2
    assert evaluate(half, tiny_world, sc).value("efficacy") == pytest.approx(0.4)


def test_batched_equals_one_at_a_time(tiny_world: World) -> None:
    """A real GPT-NeoX: the batched pass returns exactly what single-prompt passes return."""
    model = small_model(tiny_world)
    sc = build_scenario(tiny_world, "k-different", {"k": 3, "specificity_size": 10})
    rec = evaluate(model, tiny_world, sc, reference_model=model)
    assert rec.value("locality") == 1.0  # a model agrees with itself
    t = sc.tests["specificity/same_relation"]
    pred = []
    with torch.no_grad():
        for i in range(len(t)):
            ids = torch.from_numpy(t.probes.prompt(i).astype(np.int64))[None]
            pred.append(int(model(input_ids=ids).logits[0, -1].argmax()))
    want = float(np.mean(np.array(pred) == t.target))
    assert rec.value("specificity", "same_relation") == pytest.approx(want)
    s = score(model, t.probes, np.stack([t.target, t.target], 1))
    assert (s.pred == np.array(pred)).all()


def test_probe_accuracy_of_the_oracle(tiny_world: World) -> None:
    rec = evaluate_probes(oracle_model(tiny_world), tiny_world)
    assert {r["split"] for r in rec.rows} == set(tiny_world.probes)
    assert all(r["value"] == 1.0 for r in rec.rows)


def test_records_are_tidy_and_written(tiny_world: World, tmp_path: Path) -> None:
    model = small_model(tiny_world)
    ref = small_model(tiny_world, seed=1)
    sc = build_scenario(tiny_world, "k-different", {"k": 2})
    with measure_cost() as cost, torch.no_grad():
        model.gpt_neox.layers[0].mlp.dense_4h_to_h.weight += torch.outer(
            torch.ones(32), torch.ones(64)
        )
    cost.deltas = {"w": {"fro_norm": math.sqrt(32 * 64), "rank": 1.0}}  # the all-ones change
    rec = evaluate(model, tiny_world, sc, reference_model=ref, run="r1", cost=cost)
    keys = {(r["run"], r["metric"], r["split"], r["phase"]) for r in rec.rows}
    assert len(keys) == len(rec.rows)  # one row per run x metric x split x phase
    assert {r["phase"] for r in rec.rows} == {"pre", "post"}
    assert all(r["edits_applied"] == (0 if r["phase"] == "pre" else 2) for r in rec.rows)
    for r in rec.rows:
        if r["group"] != "cost":
            assert r["ci_low"] <= r["value"] <= r["ci_high"] and r["n"] >= 1
    assert all(
        r["protocol"] == PROTOCOL and r["protocol_version"] == PROTOCOL_VERSION for r in rec.rows
    )
    assert rec.value("delta_rank", "w") == 1.0
    assert rec.value("delta_fro_norm", "w") == pytest.approx(math.sqrt(32 * 64))
    rec.write(tmp_path)
    rows = read_records(tmp_path)
    assert len(rows) == len(rec.rows)
    jl = [json.loads(x) for x in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert [r["metric"] for r in jl] == [r["metric"] for r in rec.rows]
    import pyarrow.parquet as pq

    items = pq.read_table(tmp_path / "items.parquet").to_pydict()
    eff = [
        v
        for m, ph, v in zip(items["metric"], items["phase"], items["value"])
        if m == "efficacy" and ph == "post"
    ]
    assert len(eff) == 2 and np.mean(eff) == pytest.approx(rec.value("efficacy"))
    assert "efficacy" in rec.table() and "same_relation" in rec.table()
    assert rec.summary().splitlines()[2].startswith("efficacy ")
    d = param_deltas(model, small_model(tiny_world))
    assert list(d) == ["gpt_neox.layers.0.mlp.dense_4h_to_h.weight"]


def test_an_edit_that_bleeds_scores_exactly(tiny_world: World) -> None:
    """A model whose edit leaks to every fact of the edited relation (all answer the new object):
    specificity on that relation = share of neighbours whose true object is the new one; other
    relations and the edited subject's other facts untouched."""
    sc = build_scenario(tiny_world, "single", {"relation": 2})
    (q,) = sc.requests
    g, V = tiny_world.graph, tiny_world.vocab
    leaky = oracle_model(tiny_world)
    sro = tiny_world.probes["sro"]
    for i in np.flatnonzero(sro.relation == 2):
        leaky.table[tuple(int(t) for t in sro.prompt(int(i)))] = q.target_new
    rec = evaluate(leaky, tiny_world, sc, reference_model=oracle_model(tiny_world))
    t = sc.tests["specificity/same_relation"]
    want = float(np.mean(g.objects[t.probes.subject, 2] == q.new_object))
    assert rec.value("specificity", "same_relation") == pytest.approx(want)
    assert rec.value("locality", "same_relation") == pytest.approx(want)
    assert rec.value("specificity", "same_value") == 0.0
    assert (
        rec.value("specificity", "other") == 1.0 and rec.value("specificity", "same_subject") == 1.0
    )
    assert rec.value("efficacy") == 1.0 and rec.value("generalization", "rso") == 0.0
    # NS: on neighbours the new object now beats the true one (ties where they are equal: excluded)
    assert rec.value("neighborhood_score", "same_relation") == 0.0
    del V


def test_precomputed_reference_scores_give_the_same_records(tiny_world: World) -> None:
    from behemoth.evaluation.evaluate import reference_scores

    sc = build_scenario(tiny_world, "stream", {"n": 8})
    ref = small_model(tiny_world, seed=1)
    model = small_model(tiny_world, seed=2)
    cached = reference_scores(ref, sc)
    for upto in (None, 3):
        a = evaluate(model, tiny_world, sc, reference_model=ref, upto=upto)
        b = evaluate(model, tiny_world, sc, reference_model=cached, upto=upto)
        assert a.rows == b.rows and _by(a, "locality")


def test_rows_with_different_columns_are_all_written(tiny_world: World, tmp_path: Path) -> None:
    sc = build_scenario(tiny_world, "stream", {"n": 4})
    base = oracle_model(tiny_world)
    rec = evaluate_probes(base, tiny_world)  # no edits_applied / batches_applied columns
    rec.extend(evaluate(base, tiny_world, sc, upto=2, extra={"batches_applied": 1}))
    rec.write(tmp_path)
    rows = read_records(tmp_path)
    assert len(rows) == len(rec.rows)
    assert rows[0]["batches_applied"] is None and rows[0]["edits_applied"] is None
    assert rows[-1]["batches_applied"] == 1 and rows[-1]["edits_applied"] == 2
    # a key outside the results schema (docs/results_schema.md) is refused, not a new column
    rec.extend(evaluate(base, tiny_world, sc, upto=2, extra={"step": 1}))
    with pytest.raises(ConfigError, match="record column 'step'"):
        rec.write(tmp_path / "again")
