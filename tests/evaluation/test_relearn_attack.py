"""The relearning attack as a run's evaluation step (:mod:`behemoth.evaluation.unlearning.
relearn`): it trains (a model that hid the held-back facts gives them back, and only when it is
trained), records every step fact by fact, and turns the traces into group ``relearning`` rows
and items with the item schema's columns (the sweep path: tests/experiments/sweep/
test_relearn.py)."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from behemoth.evaluation.schema import ITEM_COLUMNS
from behemoth.evaluation.unlearning.relearn import (
    RelearnConfig,
    Relearning,
    RelearnJudgment,
    RelearnSets,
    Trace,
    oracle_names,
    relearn,
    relearn_trace,
)
from behemoth.world.probes import ProbeSet

V, HIDE = 20, 19  # vocabulary; the token every prompt answers while the facts are hidden
ANSWERS = np.array([10, 11, 12, 10, 11, 12, 10, 11, 12, 10])  # subject s's object token


class Hiding(torch.nn.Module):
    """A model that knows every fact (subject token s -> ANSWERS[s], logit 5, a frozen buffer)
    but hides them all behind a learnable output bias (+10 on HIDE): the shallow unlearning
    that relearning a few facts undoes for the rest too."""

    know: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        know = torch.zeros(V, V)
        know[torch.arange(len(ANSWERS)), torch.from_numpy(ANSWERS)] = 5.0
        self.register_buffer("know", know)
        bias = torch.zeros(V)
        bias[HIDE] = 10.0
        self.bias = torch.nn.Parameter(bias)

    def forward(self, input_ids: torch.Tensor, logits_to_keep: int = 1) -> Any:
        logits = self.know[input_ids[:, -1]] + self.bias  # [b, V]
        return SimpleNamespace(logits=logits[:, None, :])


def _probes(subjects: list[int]) -> ProbeSet:
    s = np.asarray(subjects, dtype=np.int64)
    a = ANSWERS[s % len(ANSWERS)]
    return ProbeSet(
        "toy",
        "sro",
        "S-O",
        True,
        s,
        np.zeros(len(s), np.int64),
        a,
        a.astype(np.int64),
        (s % len(ANSWERS)).astype(np.int32),
        np.arange(len(s) + 1, dtype=np.int64),
    )


def test_relearning_trains_and_brings_back_hidden_facts() -> None:
    model = Hiding()
    train, rest = _probes([0, 1, 2, 3]), _probes([4, 5, 6, 7, 8, 9])
    trace = relearn_trace(model, train, rest, max_steps=6, lr=1.0, until_threshold=False)
    assert trace.correct.shape == (7, 6)  # before relearning + one row per step
    assert trace.correct[0].sum() == 0  # hidden before
    assert trace.correct[-1].sum() == 6 and trace.trained.all()  # back after training
    # no training: the same attack without steps (or without a learning rate worth the name)
    # leaves them hidden, so the count above comes from training alone
    untrained = relearn_trace(model, train, rest, max_steps=0, until_threshold=False)
    assert untrained.correct.shape == (1, 6) and untrained.correct[-1].sum() == 0
    slow = relearn_trace(model, train, rest, max_steps=6, lr=1e-6, until_threshold=False)
    assert slow.correct[-1].sum() == 0
    assert float(model.bias.detach()[HIDE]) == 10.0  # the model given is never changed
    # the study's relearn() is the same attack, stopped at the threshold
    rl = relearn(model, train, rest, max_steps=6, lr=1.0)
    assert rl.steps == trace.relearning.steps and rl.steps is not None
    assert rl.curve == trace.relearning.curve[: rl.steps + 1]


def _sets(n_rest: int = 6, shared_edit: bool = False) -> RelearnSets:
    train, rest = _probes([0, 1]), _probes(list(range(2, 2 + n_rest)))
    rest_edit = np.arange(2, 2 + n_rest) // (2 if shared_edit else 1)
    return RelearnSets(
        np.array([0, 4]),
        np.arange(2, 2 + n_rest) * 4,
        train,
        rest,
        np.array([0, 1]),
        rest_edit,
        np.array([3, 7]),
        np.arange(n_rest) + 1,
    )


def _trace(correct: list[list[int]], trained: list[int], threshold: float = 0.5) -> Trace:
    c = np.asarray(correct, dtype=bool)
    curve = c.mean(axis=1).tolist()
    hit = [k for k, a in enumerate(curve) if a >= threshold]
    rl = Relearning(hit[0] if hit else None, threshold, c.shape[0] - 1, curve)
    return Trace(rl, c, np.asarray(trained, dtype=bool))


def test_rows_and_items_say_which_facts_came_back() -> None:
    hid = _trace(
        [[1, 0, 0, 0, 0, 0], [1, 0, 1, 0, 0, 0], [1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0]],
        [1, 1],
    )
    oracle = _trace([[0] * 6, [0] * 6, [0] * 6, [0] * 6], [1, 1])
    j = RelearnJudgment(
        _sets(), RelearnConfig.model_validate({"steps": 3}), 7, {"unlearned": hid, "oracle": oracle}
    )
    rows = {(r["metric"], r["split"]): r for r in j.rows()}
    assert {r["group"] for r in rows.values()} == {"relearning"}
    u = {m: rows[(m, "unlearned")] for m, s in rows if s == "unlearned"}
    assert u["answered_before"]["value"] == 1 / 6 and u["answered_after"]["value"] == 5 / 6
    assert u["returned"]["value"] == 4 / 5 and u["returned"]["n"] == 5  # of the hidden ones
    assert u["return_step"]["value"] == (0 + 2 + 1 + 2 + 3) / 5 and u["return_step"]["n"] == 5
    assert u["relearned"]["value"] == 1.0 and u["relearned"]["n"] == 2
    assert u["steps_to_threshold"]["value"] == 2.0 and u["steps_to_threshold"]["n"] == 6
    assert u["answered_after"]["interval"] == "wilson"  # every fact its own edit
    o = rows[("steps_to_threshold", "oracle")]
    assert math.isnan(o["value"]) and o["ci_low"] is None and o["ci_high"] is None  # never
    assert rows[("returned", "oracle")]["value"] == 0.0
    # items: one per fact and metric, with the item schema's columns, edit and exposure
    items = j.records("run-x", {"edits_applied": 12, "batches_applied": None}).items_table()
    assert items.column_names == [c.name for c in ITEM_COLUMNS]
    df = items.to_pandas()
    assert len(df) == 2 * (4 * 6 + 2)
    after = df[(df.metric == "answered_after") & (df.split == "unlearned")]
    assert after.value.tolist() == [1, 1, 1, 1, 1, 0]
    assert after.exposure.tolist() == [1, 2, 3, 4, 5, 6] and after.edit.tolist() == [
        2,
        3,
        4,
        5,
        6,
        7,
    ]
    assert (df.edits_applied == 12).all() and (df.phase == "post").all()
    trained = df[df.metric == "relearned"]
    assert trained.subject.tolist() == [0, 1, 0, 1] and trained.exposure.tolist() == [3, 7, 3, 7]
    steps = df[(df.metric == "return_step") & (df.split == "unlearned")].value
    assert steps.isna().sum() == 1 and steps.dropna().tolist() == [0, 2, 1, 2, 3]
    assert isinstance(items, pa.Table)
    js = j.to_json()
    assert js["held_back"] == 6 and js["relearned"] == 2 and js["seed"] == 7
    assert js["models"]["unlearned"]["steps"] == 2


def test_facts_of_one_edit_get_the_clustered_interval() -> None:
    rng = np.random.default_rng(0)
    c = np.vstack([np.zeros(40, bool), rng.random(40) < 0.5])
    j = RelearnJudgment(
        _sets(40, shared_edit=True),
        RelearnConfig.model_validate({"steps": 1}),
        0,
        {
            "unlearned": Trace(
                Relearning(None, 0.9, 1, c.mean(axis=1).tolist()), c, np.ones(2, bool)
            )
        },
    )
    rows = {(r["metric"], r["split"]): r for r in j.rows()}
    assert rows[("answered_after", "unlearned")]["interval"] == "bootstrap_edit"


def test_oracle_names() -> None:
    assert oracle_names(3) == ["oracle", "oracle_2", "oracle_3"]
