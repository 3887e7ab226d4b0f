"""One flag grammar for every command: ``--GROUP.KEY VALUE`` (cli/common.py)."""

from __future__ import annotations

import argparse

import pytest

from behemoth.cli.common import Dotted, apply_dotted, legacy_notes, split_dotted
from behemoth.cli.main import build_parser, known_settings, main
from behemoth.errors import ConfigError


def test_split_takes_both_spellings_and_leaves_the_rest() -> None:
    argv = ["edit", "m", "--editor.rank", "8", "--scenario.k=10", "--out", "a.b", "--seed", "1"]
    rest, found = split_dotted("edit", argv)
    assert rest == ["edit", "m", "--out", "a.b", "--seed", "1"]
    assert found == [Dotted("editor", "rank", "8"), Dotted("scenario", "k", "10")]


def test_unknown_group_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match=r"--edtor.rank: .*did you mean --editor.rank\?"):
        split_dotted("edit", ["edit", "--edtor.rank", "8"])
    with pytest.raises(ConfigError, match="takes no --GROUP.KEY"):
        split_dotted("sweep", ["sweep", "--editor.rank", "8"])
    with pytest.raises(ConfigError, match="no value"):
        split_dotted("edit", ["edit", "--editor.rank"])


def _edit_args(*extra: str) -> argparse.Namespace:
    argv = ["edit", "m", "--editor", "lora", "--scenario", "stream", "--out", "o", *extra]
    rest, found = split_dotted("edit", argv)
    args = build_parser("edit").parse_args(rest)
    apply_dotted("edit", args, found, known_settings)
    return args


def test_dotted_settings_join_their_group_after_the_older_flags() -> None:
    args = _edit_args("--set", "rank=2", "--editor.rank", "8", "--scenario.n", "200")
    assert args.overrides == ["rank=2", "rank=8"]  # the new spelling is last: it wins
    assert args.scenario_overrides == ["n=200"]
    from behemoth.cli.edit import experiment_config

    config = experiment_config(args)
    assert config.editor_settings["rank"] == 8
    assert config.scenario_settings["n"] == 200


def test_train_groups_prefix_their_keys() -> None:
    rest, found = split_dotted("train", ["train", "w", "--train.lr", "1e-3", "--model.width=64"])
    args = build_parser("train").parse_args([*rest, "--out", "o", "--preset", "tiny"])
    apply_dotted("train", args, found, known_settings)
    assert args.overrides == ["train.lr=1e-3", "model.width=64"]
    from behemoth.model.config import resolve_run
    from behemoth.model.presets import model_preset

    cfg = resolve_run(model_preset("tiny"), None, args.overrides, None)
    assert cfg.train.lr == pytest.approx(1e-3) and cfg.model.width == 64


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--editor.rnak", "3"],
            "--editor.rnak: unknown editor setting 'rnak'; did you mean --editor.rank?",
        ),
        (
            ["--scenario.nn", "3"],
            "--scenario.nn: unknown scenario setting 'nn'; did you mean --scenario.n?",
        ),
    ],
)
def test_unknown_key_is_one_line_naming_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    code = main(
        [
            "edit",
            "/nonexistent",
            "--editor",
            "lora",
            "--scenario",
            "stream",
            *argv,
            "--out",
            f"{tmp_path}/o",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1] == f"behemoth: error: {message}"


def test_legacy_flags_name_the_new_spelling() -> None:
    notes = legacy_notes("edit", ["edit", "--set", "rank=8", "--scenario-set=k=10"])
    assert notes == [
        "behemoth: --set rank=8 is deprecated and goes in the next release: write --editor.rank 8",
        "behemoth: --scenario-set k=10 is deprecated and goes in the next release: write "
        "--scenario.k 10",
    ]
    assert legacy_notes("evaluate", ["evaluate", "--set", "k=4"])[0].endswith("--scenario.k 4")
    assert legacy_notes("train", ["train", "--set", "train.lr=1e-3"])[0].endswith("--train.lr 1e-3")
    assert legacy_notes("generate", ["generate", "--set", "subjects=9"])[0].endswith(
        "--world.subjects 9"
    )
    assert legacy_notes("edit", ["edit", "--editor.rank", "8"]) == []


def test_legacy_note_is_printed_after_a_run_not_with_an_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["evaluate", "/nonexistent", "--set", "k=4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "deprecated" not in err[0]  # bad input: one line
    assert main(["scenarios", "stream"]) == 0  # (no legacy flag: no note)
    assert "deprecated" not in capsys.readouterr().err


def test_legacy_note_follows_a_successful_run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import behemoth.cli.evaluate as ev

    monkeypatch.setattr(ev, "run", lambda args: 0)
    monkeypatch.setattr(
        "behemoth.cli.main.build_parser",
        lambda command: _with_func(build_parser(command), ev.run),
    )
    assert main(["evaluate", "m", "--set", "k=4"]) == 0
    err = capsys.readouterr().err
    assert "--set k=4 is deprecated" in err and "write --scenario.k 4" in err


def _with_func(parser: argparse.ArgumentParser, func: object) -> argparse.ArgumentParser:
    sub = next(a for a in parser._actions if a.dest == "command")
    sub.choices["evaluate"].set_defaults(func=func)  # type: ignore[attr-defined]
    return parser
