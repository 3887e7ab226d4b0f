"""The capacity study end to end on a tiny grid (2 sizes x 2 replicates, a few steps each), its
rerun from the shared directory (nothing trained again), and its refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from behemoth.config import validate
from behemoth.errors import ConfigError
from behemoth.experiments.capacity import (
    COLUMNS,
    PARQUET,
    PLOT,
    STUDY,
    TABLE,
    CapacitySpec,
    main,
    preset_spec,
    run_capacity,
)
from behemoth.io import read_json
from behemoth.world.presets import world_preset

STEPS = 24


def tiny_spec() -> CapacitySpec:
    return validate(
        CapacitySpec,
        {
            "world": {**world_preset("tiny"), "subjects": 40, "repeats": 10},
            "widths": [32],
            "depths": [1, 2],
            "replicates": 2,
            "lr": 1e-2,
            "lr_width": 32,
            "train": {
                "seq_len": 32,
                "batch_size": 16,
                "max_tokens": STEPS * 16 * 32,
                "warmup_steps": 4,
                "eval_every": 6,
                "eval_sets": [],
                "target_accuracy": 0.99,
                "threads": 1,
            },
        },
    )


@pytest.mark.slow
def test_study_end_to_end_and_rerun_trains_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, shared = tiny_spec(), tmp_path / "shared"
    res = run_capacity(spec, tmp_path / "a", shared)
    assert (res["trained"], res["cached"]) == (4, 0)
    df = pd.read_parquet(tmp_path / "a" / PARQUET)
    assert list(df.columns) == list(COLUMNS)
    assert len(df) == 4
    assert sorted(zip(df["layers"], df["replicate"])) == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert (df["n_facts"] == 160).all() and (df["n_choices"] == 20).all()
    assert (df["bits"] >= 0).all() and (df["bits"] <= df["bits_max"] + 1e-9).all()
    assert np.allclose(df["bits_per_param_all"], df["bits_unfloored"] / df["params_all"])
    assert (df["params_non_embedding"] < df["params_all"]).all()
    # replicates differ in their seeds (a model trained again, not the same one counted twice)
    assert df.groupby("layers")["seed"].nunique().tolist() == [2, 2]
    assert (df["tokens_seen"] <= STEPS * 16 * 32).all()
    assert (tmp_path / "a" / PLOT).read_bytes()[:4] == b"\x89PNG"
    md = (tmp_path / "a" / TABLE).read_text()
    assert md.count("\n| 32 | ") == 2 and "models: " in md
    study = read_json(tmp_path / "a" / STUDY)
    assert len(study["models"]) == 4 and (tmp_path / "a" / "provenance.json").is_file()

    import behemoth.model

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("a model was trained again")

    monkeypatch.setattr(behemoth.model, "train_model", refuse)
    again = run_capacity(spec, tmp_path / "b", shared)
    assert (again["trained"], again["cached"]) == (0, 4)
    for name in (PARQUET, TABLE, STUDY, PLOT):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_spec_refusals() -> None:
    good = tiny_spec().to_dict()
    with pytest.raises(ConfigError, match="widht"):
        validate(CapacitySpec, {**good, "widht": [32]})
    with pytest.raises(ConfigError, match="world"):
        validate(CapacitySpec, {**good, "world": {**good["world"], "correlated_pair": True}})
    with pytest.raises(ConfigError, match="sizes"):
        validate(CapacitySpec, {**good, "sizes": [[64, 1]]})
    with pytest.raises(ConfigError, match="train.lr"):
        validate(CapacitySpec, {**good, "train": {**good["train"], "lr": 0.1}})
    with pytest.raises(ConfigError, match="train"):
        validate(CapacitySpec, {**good, "train": {**good["train"], "max_tokns": 5}})
    assert len(preset_spec("cpu").grid()) == 10
    assert (256, 6) not in preset_spec("cpu").grid()
    assert preset_spec("cpu", sizes=[[32, 2], [256, 6]]).grid() == [(32, 2), (256, 6)]


def test_cli_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path / "o"), "--sizes", "32by2", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--sizes" in err[0]
    assert main(["--out", str(tmp_path / "o"), "--scale", "gpu"]) == 2
    assert "--scale" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
