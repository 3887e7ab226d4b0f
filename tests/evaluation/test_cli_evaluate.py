"""``behemoth evaluate``: a readable table, records written atomically, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from behemoth.cli.main import main
from behemoth.evaluation.records import read_records
from behemoth.io import write_json
from behemoth.world import World
from tests.evaluation.test_evaluate import small_model


@pytest.fixture(scope="module")
def model_dir(tiny_world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GPT-NeoX directory that records its world as `behemoth train` does."""
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


def test_evaluate_prints_and_writes(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval"
    rc = main(
        [
            "evaluate",
            str(model_dir),
            "--scenario",
            "k-identical",
            "--set",
            "k=3",
            "--seed",
            "2",
            "--out",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0
    assert (
        "efficacy" in text
        and "specificity" in text
        and "probe_accuracy" in text
        and "prompts scored" in text
    )
    rows = read_records(out)
    assert {r["scenario"] for r in rows} == {"k-identical", ""}
    assert (out / "records.jsonl").is_file() and (out / "items.parquet").is_file()
    meta = json.loads((out / "scenario.json").read_text())
    assert meta["config"]["k"] == 3 and meta["config"]["seed"] == 2
    assert len((out / "scenario.jsonl").read_text().splitlines()) >= 3
    # the output directory is not overwritten without --force; same settings, same bytes
    first = {
        f: (out / f).read_bytes()
        for f in (
            "records.jsonl",
            "records.parquet",
            "items.parquet",
            "scenario.jsonl",
            "scenario.json",
        )
    }
    assert main(["evaluate", str(model_dir), "--out", str(out)]) == 2
    args = [
        "--scenario",
        "k-identical",
        "--set",
        "k=3",
        "--seed",
        "2",
        "--out",
        str(out),
        "--force",
    ]
    assert main(["evaluate", str(model_dir), *args]) == 0
    assert {f: (out / f).read_bytes() for f in first} == first


def test_plain_hf_model_needs_world(
    tiny_world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "hf"
    small_model(tiny_world).save_pretrained(str(d))
    assert main(["evaluate", str(d)]) == 2
    assert "--world" in capsys.readouterr().err
    assert main(["evaluate", str(d), "--world", str(tiny_world.path), "--scenario", "single"]) == 0


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--scenario", "k-diferent"], "did you mean 'k-different'"),
        (["--set", "kk=3"], "unknown key"),
        (["--set", "k=500"], "k: "),
    ],
)
def test_bad_input_is_one_line(
    model_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    assert main(["evaluate", str(model_dir), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
