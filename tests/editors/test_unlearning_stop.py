"""Issue 21: an unlearning run's stopping rule watches a validation split of the forget facts,
and forget accuracy is measured on the others only (disjoint prompts), or the run is a fixed
budget; the run's info says which, and which facts the rule watched."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from behemoth.editors import EditContext, build_editor
from behemoth.editors.unlearning.trainer import stop_edges
from behemoth.evaluation.unlearning.report import ForgetSplit, measure
from behemoth.scenarios.forget import unlearning_retain
from behemoth.scenarios.render import edge_prompts, statement_templates
from behemoth.scenarios.scenario import build_scenario
from behemoth.world import World


def test_stop_edges_is_a_seeded_share() -> None:
    e = np.arange(100, 150)
    a = stop_edges(e[::-1], 0.2)
    assert len(a) == 10 and np.isin(a, e).all() and (np.diff(a) > 0).all()
    assert (a == stop_edges(e, 0.2)).all()  # a function of the set, not of its order
    assert len(stop_edges(np.array([3, 7]), 0.01)) == 1  # at least one
    assert len(stop_edges(np.array([3, 7]), 0.99)) == 1  # and never all
    assert len(stop_edges(np.array([5]), 0.5)) == 0  # one fact: the budget decides


@pytest.fixture(scope="module")
def case(tiny_world: World) -> dict[str, Any]:
    sc = build_scenario(tiny_world, "forget-facts", {"k": 10, "held_out": 8})
    retain = unlearning_retain(tiny_world, sc, size=100, seed=0)
    return {"scenario": sc, "retain": retain}


def _prompts(world: World, flat: np.ndarray) -> set[tuple[int, ...]]:
    R = world.graph.n_relations
    s, r = flat // R, flat % R
    p = edge_prompts(world, statement_templates(world)[0], "S-O", s, r, world.graph.objects[s, r])
    return {tuple(int(x) for x in p.prompt(i)) for i in range(len(p))}


@pytest.mark.slow
def test_stopping_prompts_and_forget_accuracy_prompts_are_disjoint(
    edit_model: torch.nn.Module, tiny_world: World, case: dict[str, Any]
) -> None:
    sc = case["scenario"]
    editor = build_editor("ga", {"steps": 40, "retain_batch": 32})
    ctx = EditContext(tiny_world, retain=case["retain"].probes)
    editor.prepare(edit_model, ctx)
    res = editor.apply(edit_model, sc.requests, ctx)
    info = res.info
    assert info["stopping"] == "validation" and info["stop_share"] == 0.2
    watched = np.array(info["stop_edges"], dtype=np.int64)
    assert len(watched) == 2 == len(info["stop_requests"])
    R = tiny_world.graph.n_relations
    assert [sc.requests[i].subject * R + sc.requests[i].relation for i in info["stop_requests"]]
    split = ForgetSplit.from_scenario(tiny_world, sc, case["retain"])
    assert (split.stop == watched).all()
    assert len(split.forget) == 8 and not np.isin(split.forget, watched).any()
    stop_prompts = {tuple(int(x) for x in sc.requests[i].prompt) for i in info["stop_requests"]}
    assert not stop_prompts & _prompts(tiny_world, split.forget)  # disjoint prompts
    m = measure(res.model, tiny_world, split)
    assert len(m.forget_correct) == 8  # forget accuracy on facts the rule never saw
    if info["steps"] < 40:  # it stopped by the rule: the watched facts are forgotten
        watched_p = edge_prompts(
            tiny_world,
            "sro",
            "S-O",
            watched // R,
            watched % R,
            tiny_world.graph.objects[watched // R, watched % R],
        )
        from behemoth.model.scoring import score

        assert not score(res.model, watched_p).correct(watched_p.answer).any()


def test_budget_when_the_rule_is_off(tiny_world: World, case: dict[str, Any]) -> None:
    from behemoth.editors.ga import GaConfig, GaTrainer

    reqs = case["scenario"].requests
    on = GaTrainer(GaConfig.model_validate({}), tiny_world)
    on.edit_batch(reqs)
    assert on.stop_info()["stopping"] == "validation" and len(on.stop_info()["stop_edges"]) == 2
    off = GaTrainer(GaConfig.model_validate({"stop_when_forgotten": False}), tiny_world)
    off.edit_batch(reqs)
    assert off.stop_info() == {
        "stopping": "budget",
        "stop_share": 0.0,
        "stop_edges": [],
        "stop_requests": [],
    }
    assert not off.finished(torch.nn.Linear(1, 1), None, torch.zeros(1))  # type: ignore[arg-type]
    assert len(ForgetSplit.from_scenario(tiny_world, case["scenario"], stop_share=None).stop) == 0
