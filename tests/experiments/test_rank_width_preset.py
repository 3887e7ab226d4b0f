"""The rank-width study (issue 25) expands to the runs it means to run, and an editor's
``models`` restriction of a sweep spec (what bounds each LoRA rank grid by its model's width)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from behemoth.config import validate
from behemoth.errors import ConfigError
from behemoth.experiments.sweep import SweepSpec, expand, load_spec
from tests.experiments.sweep.conftest import toy_spec_dict

WIDTHS = {"w64": 64, "w64 long": 64, "w128": 128, "w256": 256}
SCENARIOS = 3  # single, 10 identical, 10 different
REPLICATES = 3


def _ranks(width: int) -> list[int]:
    return [2**i for i in range(width.bit_length()) if 2**i <= width]


@pytest.fixture(scope="module")
def runs() -> list[Any]:
    return expand(load_spec("rank-width"))


def test_preset_runs_per_width(runs: list[Any]) -> None:
    """Per (world, width): 3 replicates x 3 scenarios x (ranks 1..width + full fine-tuning);
    the large world only at width 64 (its recipe with a longer token budget)."""
    counts = Counter((r.labels["world"], r.labels["model"]) for r in runs)
    expected = {
        ("small", "w64"): REPLICATES * SCENARIOS * (7 + 1),
        ("large", "w64 long"): REPLICATES * SCENARIOS * (7 + 1),
        ("small", "w128"): REPLICATES * SCENARIOS * (8 + 1),
        ("small", "w256"): REPLICATES * SCENARIOS * (9 + 1),
    }
    assert dict(counts) == expected
    assert len(runs) == 315 == len({r.run_id for r in runs})


def test_preset_ranks_stop_at_each_width(runs: list[Any]) -> None:
    for label, width in WIDTHS.items():
        mine = [r for r in runs if r.labels["model"] == label]
        model = mine[0].config["model"]["model"]
        assert model["width"] == width
        lora = [
            r.config["editor"]["settings"]["rank"] for r in mine if r.experiment.editor == "lora"
        ]
        assert sorted(set(lora)) == _ranks(width)
        ft = [r for r in mine if r.experiment.editor == "ft"]
        assert {r.config["editor"]["settings"]["part"] for r in ft} == {"all"}
        assert len(ft) == REPLICATES * SCENARIOS
        assert {r.labels["replicate"] for r in mine} == {"0", "1", "2"}


def test_preset_width_256_is_pythia_31m(runs: list[Any]) -> None:
    from behemoth.model.presets import model_preset

    w256 = next(r for r in runs if r.labels["model"] == "w256").config["model"]["model"]
    paper = model_preset("pythia-31m")["model"]
    assert {k: w256[k] for k in paper} == paper
    w128 = next(r for r in runs if r.labels["model"] == "w128").config["model"]["model"]
    assert (w128["layers"], w128["width"], w128["heads"], w128["mlp"]) == (6, 128, 4, 512)


def test_models_restriction_filters_runs() -> None:
    spec = toy_spec_dict(
        models={"a": {"preset": "tiny"}, "b": {"preset": "tiny", "set": {"seed": 5}}},
        editors={
            "lora": {"name": "lora", "grid": {"rank": [1, 2]}, "models": ["a"]},
            "rome": {"name": "rome"},
        },
        seeds=[0],
    )
    runs = expand(validate(SweepSpec, spec))
    lora = Counter(r.labels["model"] for r in runs if r.experiment.editor == "lora")
    rome = Counter(r.labels["model"] for r in runs if r.experiment.editor == "rome")
    assert lora == {"a": 2 * 2}  # 2 ranks x 2 scenarios, on model a only
    assert rome == {"a": 2, "b": 2}


def test_models_restriction_unknown_label_refused() -> None:
    spec = toy_spec_dict(editors={"lora": {"name": "lora", "models": ["m2"]}})
    with pytest.raises(ConfigError, match=r"editors\.lora\.models.*'m2'"):
        validate(SweepSpec, spec)


def test_preset_width_64_recipes(runs: list[Any]) -> None:
    """w64 is `tiny` as written (the behemoth-paper study's models, same world: reused under one
    --shared); w64 long differs only in its token budget, and only it sees the large world."""
    from behemoth.model.config import RunConfig
    from behemoth.model.presets import model_preset

    tiny = RunConfig.from_dict(model_preset("tiny")).to_dict()
    by = {r.labels["model"]: r for r in runs if r.labels["replicate"] == "0"}
    assert by["w64"].config["model"] == tiny
    long = by["w64 long"].config["model"]
    assert long["train"].pop("max_tokens") == 16_000_000
    tiny["train"].pop("max_tokens")
    assert long == tiny
    assert {r.labels["world"] for r in runs if r.labels["model"] == "w64 long"} == {"large"}
    assert {r.labels["world"] for r in runs if r.labels["model"] != "w64 long"} == {"small"}
