"""Integration: the suite on a model that learned the ``tiny`` world (the shared fixture).

Unedited, a model that knows its facts scores efficacy ~0 and specificity ~1, keeps the
forgotten facts (forget accuracy ~1) and separates them from unseen ones (membership AUC ~1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from behemoth.evaluation.evaluate import evaluate, evaluate_probes
from behemoth.scenarios.scenario import build_scenario
from behemoth.world import World


def _trained(request: pytest.FixtureRequest) -> Any:
    try:
        m = request.getfixturevalue("tiny_model")
    except pytest.FixtureLookupError:
        pytest.skip("no shared `tiny_model` fixture in tests/conftest.py yet")
    if isinstance(m, tuple):
        m = m[0]
    if isinstance(m, (str, Path)):
        from behemoth.model import load_model

        m = load_model(m)[0]
    return m


def test_unedited_trained_model(request: pytest.FixtureRequest, tiny_world: World) -> None:
    model = _trained(request)
    sro = evaluate_probes(model, tiny_world).value("probe_accuracy", "sro")
    assert sro >= 0.95
    sc = build_scenario(tiny_world, "k-different", {"k": 5})
    rec = evaluate(model, tiny_world, sc, reference_model=model)
    assert rec.value("efficacy") <= 0.2
    assert rec.value("efficacy_score") <= 0.2
    assert rec.value("specificity") >= 0.95
    assert rec.value("locality") == 1.0
    fg = build_scenario(tiny_world, "forget-relation", {"share": 0.5})
    rf = evaluate(model, tiny_world, fg)
    assert rf.value("forget_accuracy", "forgotten") >= 0.9
    assert rf.value("membership_auc") >= 0.9
