"""Integration: the suite on a model that learned the ``tiny`` world (the shared fixture).

Unedited, a model that knows its facts scores efficacy ~0 and specificity ~1, keeps the
forgotten facts (forget accuracy ~1) and separates them from unseen ones (membership AUC ~1).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from behemoth.cli.main import main
from behemoth.evaluation.evaluate import evaluate, evaluate_probes
from behemoth.evaluation.records import read_records
from behemoth.model import load_model
from behemoth.scenarios.scenario import build_scenario
from behemoth.world import World


def test_unedited_trained_model(tiny_model: Path, tiny_world: World) -> None:
    model, _ = load_model(tiny_model, tiny_world)
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
    assert rf.value("refusal_rate", "forgotten") == 0.0
    assert rf.value("membership_auc") >= 0.9


def test_cli_on_a_trained_model(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`behemoth evaluate MODEL` finds the model's world by itself."""
    assert main(["evaluate", str(tiny_model), "--set", "k=4", "--out", str(tmp_path / "e")]) == 0
    assert "efficacy" in capsys.readouterr().out
    rows = {(r["metric"], r["split"]): r["value"] for r in read_records(tmp_path / "e")}
    assert rows[("probe_accuracy", "sro")] >= 0.95
    assert rows[("efficacy", "sro")] <= 0.25 and rows[("specificity", "other")] >= 0.95
