"""A CLI that starts instantly: a command loads only its own modules (run in a fresh process)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from behemoth.cli.main import COMMANDS, build_parser

HEAVY = ("torch", "peft", "transformers")


def _loaded_after(argv: list[str]) -> dict[str, bool]:
    code = (
        "import json, sys\n"
        "from behemoth.cli.main import main\n"
        "try:\n"
        f"    rc = main({argv!r})\n"
        "except SystemExit as e:\n"
        "    rc = e.code\n"
        "assert rc in (0, None), rc\n"
        f"print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    loaded: dict[str, bool] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


def test_help_imports_no_heavy_library() -> None:
    assert not any(_loaded_after(["--help"]).values())


def test_generate_imports_no_heavy_library(tmp_path: Path) -> None:
    out = tmp_path / "w"
    loaded = _loaded_after(["generate", "--preset", "tiny", "--out", str(out)])
    assert (out / "tokenizer.json").is_file() and (out / "world.json").is_file()
    assert not any(loaded.values()), loaded


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_is_registered_by_its_stage(command: str) -> None:
    for parser in (build_parser(full=True), build_parser(command)):
        sub = next(a for a in parser._actions if a.dest == "command")
        choices: dict[str, argparse.ArgumentParser] = sub.choices  # type: ignore[assignment]
        assert callable(choices[command].get_default("func")), command


def test_settings_are_named_group_dot_key_in_every_command() -> None:
    from behemoth.cli.common import GROUPS, Dotted, split_dotted

    argv = ["edit", "m", "--editor", "lora", "--editor.rank", "8", "--scenario.k=10"]
    rest, found = split_dotted("edit", argv)
    assert rest == ["edit", "m", "--editor", "lora"]
    assert found == [Dotted("editor", "rank", "8"), Dotted("scenario", "k", "10")]
    assert split_dotted("evaluate", ["evaluate", "m", "--scenario.k", "3"])[1] == [
        Dotted("scenario", "k", "3")
    ]
    assert set(GROUPS) >= {"generate", "train", "evaluate", "edit"}
