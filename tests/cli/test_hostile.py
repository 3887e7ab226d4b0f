"""Hostile input: every command, fed corrupt files and bad arguments, answers with one line on
stderr and exit code 2 (no traceback) and leaves nothing behind; locks and leftovers of dead
runs are handled by the shared atomic output helper."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from behemoth.cli.common import THREADED
from behemoth.cli.main import main
from behemoth.io import atomic_dir, lock_path
from behemoth.world import World


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} | {p.name for p in root.iterdir()}


def refused(argv: list[str], capsys: pytest.CaptureFixture[str], root: Path) -> str:
    """Run ``behemoth ARGV`` in-process; assert exit 2, one stderr line, no traceback, and no
    file added under ``root``; return the line."""
    before = _tree(root)
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert _tree(root) == before, "a refused run left files behind"
    return lines[0]


@pytest.fixture
def place(tmp_path: Path, tiny_world: World, quick_model: Path) -> dict[str, Path]:
    """Private copies of a world and a model (pointing at each other), plus a file."""
    w, m = tmp_path / "w", tmp_path / "m"
    shutil.copytree(tiny_world.path, w, ignore=shutil.ignore_patterns("shards"))
    shutil.copytree(quick_model, m)
    meta = json.loads((m / "behemoth_model.json").read_text())
    meta["world"]["path"] = str(w)
    (m / "behemoth_model.json").write_text(json.dumps(meta))
    (tmp_path / "afile").write_text("x")
    return {"root": tmp_path, "w": w, "m": m, "file": tmp_path / "afile"}


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _reshape(p: dict[str, Path]) -> None:
    m = p["m"]
    cfg = json.loads((m / "config.json").read_text())
    cfg["hidden_size"], cfg["intermediate_size"] = 32, 128
    (m / "config.json").write_text(json.dumps(cfg))


CORRUPTIONS: dict[str, tuple[Callable[[dict[str, Path]], None], str]] = {
    "garbage world.json": (lambda p: (p["w"] / "world.json").write_text("{garbage"), "world.json"),
    "world.json of something else": (
        lambda p: (p["w"] / "world.json").write_text('{"format": "x"}'),
        "world.json",
    ),
    "deleted probes": (lambda p: (p["w"] / "probes.parquet").unlink(), "probes.parquet"),
    "truncated probes": (lambda p: _truncate(p["w"] / "probes.parquet"), "probes.parquet"),
    "truncated graph": (lambda p: _truncate(p["w"] / "graph.parquet"), "graph.parquet"),
    "garbage world tokenizer": (
        lambda p: (p["w"] / "tokenizer.json").write_text("garbage"),
        "tokenizer.json",
    ),
    "garbage model tokenizer": (
        lambda p: (p["m"] / "tokenizer.json").write_text("{}"),
        "tokenizer.json",
    ),
    "truncated weights": (lambda p: _truncate(p["m"] / "model.safetensors"), "m"),
    "missing weights": (lambda p: (p["m"] / "model.safetensors").unlink(), "weights"),
    "garbage model meta": (
        lambda p: (p["m"] / "behemoth_model.json").write_text("[1, 2"),
        "behemoth_model.json",
    ),
    "model meta without world": (
        lambda p: (p["m"] / "behemoth_model.json").write_text('{"format": "behemoth-model"}'),
        "behemoth_model.json",
    ),
    "garbage config.json": (lambda p: (p["m"] / "config.json").write_text("nope"), "config.json"),
    "weights of the wrong shape": (_reshape, "m"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
@pytest.mark.parametrize("command", ["evaluate", "edit", "trace"])
def test_corrupt_files_are_one_line(
    place: dict[str, Path], capsys: pytest.CaptureFixture[str], case: str, command: str
) -> None:
    damage, needle = CORRUPTIONS[case]
    damage(place)
    out = str(place["root"] / "out")
    argv = {
        "evaluate": ["evaluate", str(place["m"]), "--set", "k=5", "--out", out],
        "edit": [
            "edit",
            str(place["m"]),
            "--scenario",
            "k-different",
            "--scenario-set",
            "k=5",
            "--editor",
            "rome",
            "--out",
            out,
        ],
        "trace": ["trace", str(place["m"]), "--facts", "2", "--samples", "1", "--out", out],
    }[command]
    line = refused(argv, capsys, place["root"])
    assert needle in line


def test_world_passed_as_model(place: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(["evaluate", str(place["w"])], capsys, place["root"])
    assert "is a world directory" in line
    line = refused(["evaluate", str(place["w"]), "--world", str(place["w"])], capsys, place["root"])
    assert "is a world directory" in line


def test_model_passed_as_world(place: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = str(place["root"] / "out")
    line = refused(
        ["train", str(place["m"]), "--preset", "tiny", "--out", out], capsys, place["root"]
    )
    assert "not a behemoth world" in line


def _generate(out: str, *extra: str) -> list[str]:
    return ["generate", "--preset", "tiny", "--no-shards", "--out", out, *extra]


ARGUMENTS: dict[str, tuple[Callable[[dict[str, Path]], list[str]], str]] = {
    "generate subjects=true": (
        lambda p: _generate(str(p["root"] / "o"), "--set", "subjects=true"),
        "subjects",
    ),
    "generate huge subjects": (
        lambda p: _generate(str(p["root"] / "o"), "--set", "subjects=99999999999999999999999"),
        "subjects",
    ),
    "generate float subjects": (
        lambda p: _generate(str(p["root"] / "o"), "--set", "subjects=1.5"),
        "subjects",
    ),
    "generate unknown key": (
        lambda p: _generate(str(p["root"] / "o"), "--set", "subject=5"),
        "subject",
    ),
    "generate unknown preset": (
        lambda p: ["generate", "--preset", "tinyy", "--out", str(p["root"] / "o")],
        "tiny",
    ),
    "generate workers 0": (
        lambda p: _generate(str(p["root"] / "o"), "--workers", "0"),
        "--workers",
    ),
    "generate workers negative": (
        lambda p: _generate(str(p["root"] / "o"), "--workers", "-2"),
        "--workers",
    ),
    "generate seed negative": (lambda p: _generate(str(p["root"] / "o"), "--seed", "-1"), "seed"),
    "generate out is a file": (lambda p: _generate(str(p["file"])), "not a directory"),
    "generate out under a file": (lambda p: _generate(str(p["file"] / "sub")), "not a directory"),
    "generate out unwritable": (lambda p: _generate("/proc/behemoth-test/o"), "cannot write"),
    "generate out holds a world": (
        lambda p: _generate(str(p["w"]), "--set", "seed=3"),
        "already holds",
    ),
    "generate corpus beyond the disk": (
        lambda p: [
            "generate",
            "--preset",
            "tiny",
            "--set",
            "repeats=100000000000",
            "--out",
            str(p["root"] / "o"),
        ],
        "GB",
    ),
    "generate config missing": (
        lambda p: [
            "generate",
            "--config",
            str(p["root"] / "nope.yaml"),
            "--out",
            str(p["root"] / "o"),
        ],
        "nope.yaml",
    ),
    "generate config garbage": (
        lambda p: [
            "generate",
            "--config",
            str(p["file"].with_name("bad.yaml")),
            "--out",
            str(p["root"] / "o"),
        ],
        "bad.yaml",
    ),
    "train out is a file": (
        lambda p: ["train", str(p["w"]), "--preset", "tiny", "--out", str(p["file"])],
        "not a directory",
    ),
    "train out unwritable": (
        lambda p: ["train", str(p["w"]), "--preset", "tiny", "--out", "/proc/behemoth-test/m"],
        "cannot write",
    ),
    "train out holds a model": (
        lambda p: ["train", str(p["w"]), "--preset", "tiny", "--out", str(p["m"])],
        "already holds",
    ),
    "train eval_every -1": (
        lambda p: [
            "train",
            str(p["w"]),
            "--preset",
            "tiny",
            "--set",
            "train.eval_every=-1",
            "--out",
            str(p["root"] / "o"),
        ],
        "train.eval_every",
    ),
    "train width true": (
        lambda p: [
            "train",
            str(p["w"]),
            "--preset",
            "tiny",
            "--set",
            "model.width=true",
            "--out",
            str(p["root"] / "o"),
        ],
        "model.width",
    ),
    "train lr true": (
        lambda p: [
            "train",
            str(p["w"]),
            "--preset",
            "tiny",
            "--set",
            "train.lr=yes",
            "--out",
            str(p["root"] / "o"),
        ],
        "train.lr",
    ),
    "train no world": (
        lambda p: [
            "train",
            str(p["root"] / "nowhere"),
            "--preset",
            "tiny",
            "--out",
            str(p["root"] / "o"),
        ],
        "nowhere",
    ),
    "evaluate batch size 0": (
        lambda p: ["evaluate", str(p["m"]), "--batch-size", "0"],
        "--batch-size",
    ),
    "evaluate out is a file": (
        lambda p: ["evaluate", str(p["m"]), "--out", str(p["file"])],
        "not a directory",
    ),
    "edit out is a file": (
        lambda p: [
            "edit",
            str(p["m"]),
            "--scenario",
            "k-different",
            "--editor",
            "rome",
            "--out",
            str(p["file"]),
        ],
        "not a directory",
    ),
    "edit eval-every -1": (
        lambda p: [
            "edit",
            str(p["m"]),
            "--scenario",
            "k-different",
            "--editor",
            "rome",
            "--eval-every",
            "-1",
            "--out",
            str(p["root"] / "o"),
        ],
        "--eval-every",
    ),
    "edit unknown editor": (
        lambda p: [
            "edit",
            str(p["m"]),
            "--scenario",
            "k-different",
            "--editor",
            "romee",
            "--out",
            str(p["root"] / "o"),
        ],
        "rome",
    ),
    "edit lora rank beyond the width": (
        lambda p: [
            "edit",
            str(p["m"]),
            "--scenario",
            "k-different",
            "--scenario-set",
            "k=2",
            "--editor",
            "lora",
            "--set",
            "rank=100000",
            "--out",
            str(p["root"] / "o"),
        ],
        "rank <= 64",
    ),
    "edit lora rank true": (
        lambda p: [
            "edit",
            str(p["m"]),
            "--scenario",
            "k-different",
            "--editor",
            "lora",
            "--set",
            "rank=true",
            "--out",
            str(p["root"] / "o"),
        ],
        "rank",
    ),
    "edit seeds negative": (
        lambda p: [
            "edit",
            str(p["m"]),
            "--scenario",
            "stream",
            "--editor",
            "rome",
            "--seeds",
            "0",
            "-1",
            "--out",
            str(p["root"] / "o"),
        ],
        "--seeds",
    ),  # fmt: skip
    "edit seeds repeated": (
        lambda p: [
            "edit",
            str(p["m"]),
            "--scenario",
            "stream",
            "--editor",
            "rome",
            "--seeds",
            "1",
            "1",
            "--out",
            str(p["root"] / "o"),
        ],
        "seeds",
    ),  # fmt: skip
    "edit seed and seeds": (
        lambda p: [
            "edit",
            str(p["m"]),
            "--scenario",
            "stream",
            "--editor",
            "rome",
            "--seed",
            "1",
            "--seeds",
            "2",
            "--out",
            str(p["root"] / "o"),
        ],
        "--seeds",
    ),  # fmt: skip
    "edit device unknown": (
        lambda p: [
            "edit",
            str(p["m"]),
            "--scenario",
            "stream",
            "--editor",
            "rome",
            "--device",
            "gpu0",
            "--out",
            str(p["root"] / "o"),
        ],
        "device",
    ),  # fmt: skip
    "edit oracle without forgetting": (
        lambda p: [
            "edit",
            str(p["m"]),
            "--scenario",
            "single",
            "--editor",
            "ft",
            "--oracle",
            "--out",
            str(p["root"] / "o"),
        ],
        "--oracle",
    ),  # fmt: skip
    "edit scenario key unknown": (
        lambda p: [
            "edit",
            str(p["m"]),
            "--scenario",
            "stream",
            "--editor",
            "rome",
            "--scenario.nn",
            "3",
            "--out",
            str(p["root"] / "o"),
        ],
        "scenario.nn",
    ),  # fmt: skip
    "trace facts 0": (
        lambda p: ["trace", str(p["m"]), "--facts", "0", "--out", str(p["root"] / "o")],
        "--facts",
    ),
    "trace samples 0": (
        lambda p: ["trace", str(p["m"]), "--samples", "0", "--out", str(p["root"] / "o")],
        "--samples",
    ),
    "trace relation 99": (
        lambda p: ["trace", str(p["m"]), "--relation", "99", "--out", str(p["root"] / "o")],
        "--relation",
    ),
    "export-reference out is a file": (
        lambda p: ["export-reference", str(p["w"]), "--out", str(p["file"])],
        "not a directory",
    ),
    "export-finetuning overrides 0": (
        lambda p: ["export-finetuning", str(p["w"]), "-n", "0", "--out", str(p["root"] / "o")],
        "--overrides",
    ),
    "compare missing directory": (
        lambda p: ["compare", str(p["root"] / "nowhere"), str(p["root"] / "nowhere2")],
        "nowhere",
    ),
    "compare foreign directory": (lambda p: ["compare", str(p["w"]), str(p["m"])], "/w"),
    "compare a file": (lambda p: ["compare", str(p["file"]), str(p["file"])], "afile"),
    "lens relation 99": (lambda p: ["lens", str(p["m"]), "--relation", "99"], "--relation"),
    "lens unknown template": (lambda p: ["lens", str(p["m"]), "--template", "nope"], "nope"),
    "lens out is the model": (
        lambda p: ["lens", str(p["m"]), "--out", str(p["m"]), "--force"],
        "destroy the input",
    ),
    "evaluate out is the model": (
        lambda p: ["evaluate", str(p["m"]), "--out", str(p["m"]), "--force"],
        "destroy the input",
    ),
    "evaluate out inside the world": (
        lambda p: ["evaluate", str(p["m"]), "--out", str(p["w"] / "sub"), "--force"],
        "lies inside the input --world",
    ),
    "evaluate out contains the model": (
        lambda p: ["evaluate", str(p["m"]), "--out", str(p["root"]), "--force"],
        "contains the input MODEL",
    ),
    "trace out is the model": (
        lambda p: ["trace", str(p["m"]), "--out", str(p["m"]), "--force"],
        "destroy the input",
    ),
    "train-serac out is the world": (
        lambda p: [
            "train-serac",
            str(p["w"]),
            "--scenario",
            "k-different",
            "--out",
            str(p["w"]),
            "--force",
        ],
        "destroy the input",
    ),  # fmt: skip
    "train-serac out holds files": (
        lambda p: ["train-serac", str(p["w"]), "--scenario", "k-different", "--out", str(p["m"])],
        "already holds",
    ),  # fmt: skip
    "import-reference nothing there": (
        lambda p: ["import-reference", str(p["root"] / "nowhere"), "--out", str(p["root"] / "o")],
        "nowhere",
    ),
}


@pytest.mark.parametrize("case", list(ARGUMENTS))
def test_bad_arguments_are_one_line(
    place: dict[str, Path], capsys: pytest.CaptureFixture[str], case: str
) -> None:
    (place["root"] / "bad.yaml").write_text("a: [1,\n")
    argv, needle = ARGUMENTS[case]
    line = refused(argv(place), capsys, place["root"])
    assert needle in line


def _threads_zero(p: dict[str, Path], command: str) -> list[str]:
    out = str(p["root"] / "o")
    return {
        "train": ["train", str(p["w"]), "--preset", "tiny", "--out", out],
        "evaluate": ["evaluate", str(p["m"])],
        "edit": [
            "edit",
            str(p["m"]),
            "--scenario",
            "k-different",
            "--editor",
            "rome",
            "--out",
            out,
        ],
        "trace": ["trace", str(p["m"]), "--out", out],
        "lens": ["lens", str(p["m"])],
        "train-serac": ["train-serac", str(p["w"]), "--scenario", "k-different", "--out", out],
        "demo": ["demo", "--out", out],
        "sweep": ["sweep", "smoke", "--out", out],
        "convert-litgpt": ["convert-litgpt", str(p["file"]), "--out", out],
        "export-litgpt": ["export-litgpt", str(p["m"]), "--out", out],
    }[command] + ["--threads", "0"]  # fmt: skip (a THREADED command without a case: KeyError)


@pytest.mark.parametrize("command", sorted(THREADED))
def test_threads_zero_is_one_line(
    place: dict[str, Path], capsys: pytest.CaptureFixture[str], command: str
) -> None:
    assert "--threads" in refused(_threads_zero(place, command), capsys, place["root"])


def test_edit_out_is_checked_before_the_model_is_loaded(
    place: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    (place["m"] / "model.safetensors").unlink()  # loading would fail: the --out check is first
    out = place["root"] / "taken"
    out.mkdir()
    (out / "edit.json").write_text("{}")
    argv = [
        "edit",
        str(place["m"]),
        "--scenario",
        "k-different",
        "--editor",
        "rome",
        "--out",
        str(out),
    ]
    assert "already holds" in refused(argv, capsys, place["root"])


def test_library_errors_are_one_line_and_debug_shows_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import behemoth.cli.generate as gen

    def boom(args: object) -> int:
        json.loads("{nope")
        return 0

    monkeypatch.setattr(gen, "run", boom)
    line = refused(["generate", "--preset", "tiny", "--out", str(tmp_path / "o")], capsys, tmp_path)
    assert "JSONDecodeError" in line and "--debug" in line

    def missing(args: object) -> int:
        open(tmp_path / "gone.txt")  # noqa: SIM115 - raises
        return 0

    monkeypatch.setattr(gen, "run", missing)
    line = refused(["generate", "--preset", "tiny", "--out", str(tmp_path / "o")], capsys, tmp_path)
    assert "gone.txt" in line
    with pytest.raises(FileNotFoundError):
        main(["--debug", "generate", "--preset", "tiny", "--out", str(tmp_path / "o")])


# -- locks and leftovers ---------------------------------------------------------------------


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_live_run_holds_its_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "w"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock_path(out).write_text(f"{live.pid}\n")
        for extra in ([], ["--force"]):
            line = refused(_generate(str(out), *extra), capsys, tmp_path)
            assert f"process {live.pid}" in line
        assert (out / "keep.txt").read_text() == "mine"  # --force never removes a live run's
    finally:
        live.kill()
        live.wait()


def test_dead_runs_lock_and_leftovers_are_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "a"
    dead = _dead_pid()
    lock_path(out).write_text(f"{dead}\n")
    left = tmp_path / f".a.tmp-{dead}-xyz"
    (left / "sub").mkdir(parents=True)
    (left / "sub" / "big.bin").write_bytes(b"0" * 1000)
    old = tmp_path / f".a.old-{dead}"
    old.mkdir()
    foreign = tmp_path / f".a.tmp-{os.getpid()}-mine"  # a live process's: kept
    foreign.mkdir()
    with caplog.at_level("WARNING"), atomic_dir(out) as tmp:
        (tmp / "x.txt").write_text("done")
    assert (out / "x.txt").read_text() == "done"
    assert not left.exists() and not old.exists() and foreign.exists()
    assert not lock_path(out).exists()
    assert str(left) in caplog.text and str(dead) in caplog.text


def test_failed_block_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "a"
    with pytest.raises(RuntimeError), atomic_dir(out) as tmp:
        (tmp / "x").write_text("half")
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_the_same_edit_twice_is_byte_identical(
    quick_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {}
    for name in ("a", "b"):
        out = tmp_path / name
        argv = [
            "edit", str(quick_model), "--scenario", "k-different", "--scenario-set", "k=2",
            "--editor", "ft", "--set", "steps=2", "--seed", "0", "--out", str(out),
        ]  # fmt: skip
        assert main(argv) == 0, capsys.readouterr().err
        files[name] = {
            p.name: p.read_bytes()
            for p in out.iterdir()
            if p.is_file() and p.name != "provenance.json"
        }
    assert {"edit.json", "records.jsonl", "records.parquet", "measurements.json"} <= set(files["a"])
    measured_a = files["a"].pop("measurements.json")
    files["b"].pop("measurements.json")
    assert files["a"] == files["b"]
    assert b"wall_time_s" in measured_a and b"wall_time_s" not in files["a"]["records.jsonl"]
