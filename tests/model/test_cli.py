"""``behemoth train`` on the command line: one-line errors, exit code 2, a model at --out."""

from __future__ import annotations

from pathlib import Path

import pytest

from behemoth.cli.main import main
from behemoth.world import World


def test_train_cli_writes_a_model(
    tiny_world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m"
    args = [
        "train",
        str(tiny_world.path),
        "--preset",
        "tiny",
        "--set",
        "train.max_tokens=8192",
        "--set",
        "train.warmup_steps=2",
        "--set",
        "train.eval_sets=[sro]",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "token budget spent" in text and str(out) in text
    assert (out / "model.safetensors").is_file() and (out / "learning_curve.png").is_file()
    assert main(args) == 2  # --out now holds a model
    assert "already holds a trained model" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--preset", "tinyy"], "did you mean 'tiny'"),
        (["--preset", "tiny", "--set", "model.heads=3"], "model.heads"),
        (["--preset", "tiny", "--set", "train.target_set=nope"], "train.target_set"),
        ([], "--preset"),
    ],
)
def test_train_cli_errors_are_one_line(
    tiny_world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    needle: str,
) -> None:
    assert main(["train", str(tiny_world.path), *extra, "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err


def test_train_cli_refuses_a_non_world(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "w").mkdir()
    assert (
        main(["train", str(tmp_path / "w"), "--preset", "tiny", "--out", str(tmp_path / "m")]) == 2
    )
    assert "not a behemoth world" in capsys.readouterr().err
