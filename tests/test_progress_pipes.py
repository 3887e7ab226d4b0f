"""Long work shows progress: a bar on a terminal, plain lines (no carriage-return frames) in
pipes and logs (behemoth.progress)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tqdm import tqdm

from behemoth.progress import FrameFilter, Lines, bar, quiet_bars


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_lines_write_every_interval_and_at_the_end() -> None:
    clock, out = Clock(), io.StringIO()
    lines = Lines(total=40, desc="edit", unit="edit", every=10, stream=out, clock=clock)
    for _ in range(40):
        clock.t += 1.0
        lines.update(1)
    lines.set_postfix(efficacy="0.95")
    lines.close()
    text = out.getvalue()
    assert "\r" not in text
    rows = text.splitlines()
    assert rows[0] == "edit 10/40 edit (25%), 0:00:10 elapsed, ~0:00:30 left"
    assert len(rows) == 5  # at 10, 20, 30, 40 s, and the end
    assert rows[-1] == "edit 40/40 edit (100%), 0:00:40 elapsed, efficacy=0.95 done"


def test_frames_of_a_tqdm_bar_become_plain_lines() -> None:
    clock, out = Clock(), io.StringIO()
    filt = FrameFilter(out, every=10, clock=clock)
    filt.write("before\n")
    b = tqdm(total=100, desc="train", file=filt, mininterval=0)
    for _ in range(100):
        clock.t += 0.5
        b.update(1)
    b.close()
    b = tqdm(total=10, desc="clears", file=filt, mininterval=0, leave=False)
    for _ in range(10):
        b.update(1)
    b.close()
    filt.write("after\n")
    filt.close_bar()
    rows = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert rows[0] == "before" and rows[-1] == "after"
    train = [r for r in rows if r.startswith("train:")]
    assert len(train) == 6  # the first frame, one per 10 s (20 steps), the last
    assert "100/100" in train[-1] and "|" not in train[-1]
    assert [r.split()[1] for r in rows if r.startswith("clears:")] == ["0%", "100%"]


def test_bar_off_a_terminal_is_lines_and_silent_when_quiet(capsys) -> None:  # type: ignore[no-untyped-def]
    b = bar(total=3, desc="x", every=0)
    assert isinstance(b, Lines)
    b.update(3)
    b.close()
    assert "x 3/3" in capsys.readouterr().err
    with quiet_bars():
        b = bar(total=3, desc="y", every=0)
        b.update(3)
        b.close()
    assert capsys.readouterr().err == ""


@pytest.mark.slow  # ~19 s: trains the tiny model for a few steps in a subprocess
def test_piped_command_writes_no_carriage_return_frames(tiny_world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A real command with stderr piped: its training bar arrives as plain lines."""
    env = {**os.environ, "BEHEMOTH_PROGRESS_EVERY": "0", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "behemoth.cli.main", "train", str(tiny_world.path),
        "--preset", "tiny", "--train.max_tokens", "8192", "--train.warmup_steps", "2",
        "--train.eval_sets", "[sro]", "--out", str(tmp_path / "m"),
    ]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert res.returncode == 0, res.stderr
    assert "\r" not in res.stderr and "\r" not in res.stdout
    assert any(line.startswith("train:") for line in res.stderr.splitlines()), res.stderr
