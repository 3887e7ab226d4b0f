"""``behemoth edit`` end to end on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from behemoth.cli.main import main


def test_edit_cli_writes_model_records_and_config(
    tiny_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BEHEMOTH_CACHE", str(tmp_path / "cache"))  # the CLI's default cache
    out = tmp_path / "edit"
    argv = [
        "edit",
        str(tiny_model),
        "--scenario",
        "k-different",
        "--scenario-set",
        "k=2",
        "--editor",
        "rome",
        "--set",
        "mom2_n_tokens=5000",
        "--set",
        "v_steps=5",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    assert (out / "model" / "model.safetensors").is_file() and (
        out / "model" / "behemoth_model.json"
    ).is_file()
    assert (out / "records.jsonl").is_file() and (out / "editor.yaml").is_file()
    edit = json.loads((out / "edit.json").read_text())
    assert edit["editor"] == "rome" and list(edit["deltas"].values())[0]["rank"] <= 2
    assert "efficacy" in capsys.readouterr().out
    assert list((tmp_path / "cache" / "stats").glob("*.pt"))  # statistics kept in the cache
    # The written config reproduces the run's settings; an existing --out is refused.
    assert main(argv[:-2] + ["--config", str(out / "editor.yaml"), "--out", str(out)]) == 2
    assert "already holds" in capsys.readouterr().err


def test_edit_cli_errors_are_one_line(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        [
            "edit",
            str(tiny_model),
            "--scenario",
            "single",
            "--editor",
            "romee",
            "--out",
            str(tmp_path / "x"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "did you mean 'rome'" in err and len(err.strip().splitlines()) == 1
    rc = main(
        [
            "edit",
            str(tiny_model),
            "--scenario",
            "single",
            "--editor",
            "rome",
            "--set",
            "layer=12",
            "--set",
            "mom2_n_tokens=1000",
            "--out",
            str(tmp_path / "y"),
        ]
    )
    assert rc == 2 and "layer" in capsys.readouterr().err
