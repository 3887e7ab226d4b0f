"""``behemoth edit`` / ``evaluate`` print one screen and write ``results.json`` (issue 23)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from behemoth.cli.main import main
from behemoth.io import write_json
from behemoth.world import World
from tests.evaluation.test_evaluate import small_model

#: Lines a printed summary may take (one terminal screen).
SCREEN = 50


@pytest.fixture(scope="module")
def model_dir(tiny_world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("model") / "m"
    small_model(tiny_world).save_pretrained(str(d))
    write_json(
        d / "behemoth_model.json",
        {
            "format": "behemoth-model",
            "format_version": 1,
            "world": {"path": str(tiny_world.path), "fingerprint": tiny_world.fingerprint},
        },
    )
    return d


def test_evaluate_unedited_summary_and_results_json(
    model_dir: Path, tiny_world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ev"
    assert main(["evaluate", str(model_dir), "--scenario.k", "3", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert len(text.splitlines()) <= SCREEN
    assert "unedited model" in text and "answers the world's answer" in text
    assert " post " not in text and "efficacy " not in text  # nothing was edited
    assert f"written to {out}: results.json" in text.splitlines()[-2]
    res = json.loads((out / "results.json").read_text())
    assert res["kind"] == "evaluate" and res["config"]["scenario_settings"]["k"] == 3
    assert (
        res["results"]["efficacy"]["sro"]["n"] == 3 and "value" in res["results"]["efficacy"]["sro"]
    )
    assert set(res["probe_accuracy"]) == {n for n, p in tiny_world.probes.items() if len(p)}
    assert {"behemoth", "torch", "transformers"} <= set(res["versions"])
    # without --out: the hint of how to keep the files
    assert main(["evaluate", str(model_dir), "--scenario.k", "3"]) == 0
    assert "--out DIR keeps results.json" in capsys.readouterr().out


@pytest.mark.slow
def test_edit_seeds_print_one_labelled_table_and_results_json(
    tiny_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BEHEMOTH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "edit"
    argv = ["edit", str(tiny_model), "--scenario", "k-different", "--scenario.k", "2",
            "--editor", "rome", "--editor.mom2_n_tokens", "5000", "--editor.v_steps", "5",
            "--seeds", "0", "1", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert len(text.splitlines()) <= SCREEN
    assert "seeds 0, 1" in text and "mean post" in text and "over 2 seeds" in text
    assert text.count("scenario k-different") == 2  # the test-set listing printed once
    assert "legend:" in text and "behemoth report" in text
    res = json.loads((out / "results.json").read_text())
    assert (
        res["seeds"] == [0, 1]
        and res["run_id"] == json.loads((out / "edit.json").read_text())["run_id"]
    )
    eff = res["results"]["efficacy"]["sro"]
    assert eff["over"] == "seeds" and eff["runs"] == 2 and eff["n"] == 4
    assert sorted(res["per_run"]) == ["seed-0", "seed-1"]
