"""kill -9 at a random (seeded) moment of ``generate``, ``train`` and ``edit``, then the same
command again into the same place: the artifacts equal an uninterrupted run's and nothing
temporary survives (no ``.NAME.tmp-*``, ``.NAME.old-*``, lock or partial run)."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import behemoth
from behemoth.world import World

from .conftest import QUICK_TRAIN

VOLATILE = {"provenance.json", "measurements.json", "learning_curve.png"}
ENV = {**os.environ, "PYTHONPATH": str(Path(behemoth.__file__).parents[1])}


def _cli(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "behemoth.cli.main", *args],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _timed(args: list[str]) -> float:
    t0 = time.perf_counter()
    p = _cli(args)
    _, err = p.communicate()
    assert p.returncode == 0, err.decode()
    return time.perf_counter() - t0


def _killed(args: list[str], after: float) -> None:
    p = _cli(args)
    try:
        p.wait(timeout=after)
    except subprocess.TimeoutExpired:
        os.kill(p.pid, signal.SIGKILL)  # the main process only, as `kill -9 PID` does
        p.wait()
    finally:
        p.stderr.close()  # type: ignore[union-attr]
        with contextlib.suppress(ProcessLookupError):  # what it spawned dies with it here
            os.killpg(p.pid, signal.SIGKILL)


def _files(d: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(d)): p.read_bytes()
        for p in sorted(d.rglob("*"))
        if p.is_file() and p.name not in VOLATILE
    }


def _no_leftovers(parent: Path) -> None:
    names = [p.name for p in parent.iterdir()]
    bad = [n for n in names if any(s in n for s in (".tmp-", ".old-", ".lock", ".partial"))]
    assert not bad, f"left behind: {bad}"


def _kill_then_rerun(
    args: list[str],
    out: Path,
    ref: Path,
    seconds: float,
    rng: random.Random,
    rerun: list[str] | None = None,
) -> None:
    _killed(args, after=rng.uniform(0.3, 0.95) * seconds)
    p = _cli(rerun or args)
    _, err = p.communicate()
    done_before = "already holds" in err.decode()  # the kill came after the rename
    assert p.returncode == 0 or done_before, err.decode()
    assert _files(out) == _files(ref)
    _no_leftovers(out.parent)


@pytest.mark.slow
def test_generate_killed_then_rerun(tmp_path: Path) -> None:
    base = ["generate", "--preset", "tiny", "--set", "repeats=200", "--workers", "1", "--out"]
    ref = tmp_path / "ref" / "w"
    seconds = _timed([*base, str(ref)])
    out = tmp_path / "run" / "w"
    _kill_then_rerun([*base, str(out)], out, ref, seconds, random.Random(1))


@pytest.mark.slow
def test_train_killed_then_resumed(tiny_world: World, tmp_path: Path) -> None:
    base = [
        "train", str(tiny_world.path), "--preset", "tiny", *QUICK_TRAIN,
        "--set", "train.max_tokens=40960", "--set", "train.checkpoint_every=5",
        "--no-progress", "--out",
    ]  # fmt: skip
    ref = tmp_path / "ref" / "m"
    seconds = _timed([*base, str(ref)])
    out = tmp_path / "run" / "m"
    args = [*base, str(out)]
    _kill_then_rerun(args, out, ref, seconds, random.Random(2), rerun=[*args, "--resume"])


@pytest.mark.slow
def test_edit_killed_then_rerun(quick_model: Path, tmp_path: Path) -> None:
    base = [
        "edit", str(quick_model), "--scenario", "k-different", "--scenario-set", "k=2",
        "--editor", "ft", "--set", "steps=2", "--seed", "0", "--out",
    ]  # fmt: skip
    ref = tmp_path / "ref" / "e"
    seconds = _timed([*base, str(ref)])
    out = tmp_path / "run" / "e"
    _kill_then_rerun([*base, str(out)], out, ref, seconds, random.Random(3))
