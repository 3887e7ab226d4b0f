"""behemoth.progress.Heartbeat: a plain line whenever a command's output went silent."""

from __future__ import annotations

import io
import subprocess
import sys
import time

from behemoth.progress import Heartbeat, _Stamped, plain_stderr


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_line_after_every_seconds_of_silence_only() -> None:
    clock = _Clock()
    target = io.StringIO()
    out = _Stamped(io.StringIO(), clock)
    beat = Heartbeat("behemoth edit", target, [out], every=5, clock=clock)
    clock.now += 4.9
    assert not beat.beat()
    out.write("a line\n")  # output resets the silence
    clock.now += 4.9
    assert not beat.beat()
    clock.now += 0.2
    assert beat.beat()
    assert target.getvalue() == "behemoth edit: working, 0:00:10 elapsed\n"
    clock.now += 1  # the heartbeat's own line counts as output
    assert not beat.beat()
    clock.now += 4
    assert beat.beat()
    assert target.getvalue().splitlines()[-1] == "behemoth edit: working, 0:00:15 elapsed"


def test_every_zero_turns_it_off() -> None:
    clock = _Clock()
    beat = Heartbeat("x", io.StringIO(), [], every=0, clock=clock)
    clock.now += 1000
    assert not beat.beat()


def test_stamped_passes_writes_and_attributes_through() -> None:
    target = io.StringIO()
    stamped = _Stamped(target, time.monotonic)
    stamped.write("x\n")
    assert target.getvalue() == "x\n"
    assert stamped.getvalue() == "x\n"  # delegated


def test_plain_stderr_beats_in_a_silent_pipe_and_restores_streams() -> None:
    code = (
        "import sys, time\n"
        "from behemoth.progress import plain_stderr\n"
        "before = sys.stdout\n"
        "with plain_stderr('behemoth t'):\n"
        "    print('start', flush=True)\n"
        "    time.sleep(1.3)\n"
        "print('restored', sys.stdout is before)\n"
    )
    env = {"BEHEMOTH_HEARTBEAT_EVERY": "0.5", "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["start", "restored True"]
    beats = done.stderr.splitlines()
    assert 1 <= len(beats) <= 3
    assert all(b.startswith("behemoth t: working, 0:00:0") for b in beats)


def test_plain_stderr_is_quiet_when_output_keeps_coming() -> None:
    err = io.StringIO()
    saved = sys.stderr
    sys.stderr = err
    try:
        with plain_stderr("q"):  # StringIO is no terminal: the filter and heartbeat are on
            for _ in range(5):
                print("line", file=sys.stderr)
    finally:
        sys.stderr = saved
    assert err.getvalue() == "line\n" * 5


def test_the_python_edit_call_writes_plain_lines_off_a_terminal(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import behemoth.api as api

    def fake(*args, **kwargs):  # type: ignore[no-untyped-def]
        for i in range(3):  # a bar as Hugging Face's weight loading draws it
            sys.stderr.write(f"\rLoading weights: {i}/2")
        sys.stderr.write("\n")
        return "edited"

    monkeypatch.setattr(api, "_edit", fake)
    assert api.edit("m", prompt="p", target="t") == "edited"
    err = capsys.readouterr().err
    assert "\r" not in err
    assert err.splitlines()[-1] == "Loading weights: 2/2"


def test_heartbeat_every_has_its_own_setting(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from behemoth.errors import ConfigError
    from behemoth.progress import heartbeat_seconds

    monkeypatch.setenv("BEHEMOTH_PROGRESS_EVERY", "7")
    monkeypatch.delenv("BEHEMOTH_HEARTBEAT_EVERY", raising=False)
    assert heartbeat_seconds() == 8.0  # its own default, not the progress period
    monkeypatch.setenv("BEHEMOTH_HEARTBEAT_EVERY", "0")
    assert Heartbeat("x", io.StringIO(), []).every == 0.0  # off
    monkeypatch.setenv("BEHEMOTH_HEARTBEAT_EVERY", "soon")
    with pytest.raises(ConfigError, match="BEHEMOTH_HEARTBEAT_EVERY"):
        heartbeat_seconds()


def test_plain_stderr_nests_and_stays_out_of_quiet_workers() -> None:
    """The command line's plain_stderr around an API call that opens its own (run_experiment,
    behemoth.edit) wraps the streams once; inside quiet_bars (a sweep's workers) it does nothing."""
    from behemoth.progress import quiet_bars

    saved = sys.stderr
    sys.stderr = io.StringIO()
    try:
        with plain_stderr("outer"):
            outer = sys.stderr
            with plain_stderr("inner"):
                assert sys.stderr is outer
        with quiet_bars(), plain_stderr("worker"):
            assert isinstance(sys.stderr, io.StringIO)
    finally:
        sys.stderr = saved


def test_run_experiment_beats_while_silent(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """A script calling run_experiment with its output piped hears from it while it works."""
    from behemoth.experiments import run

    monkeypatch.setenv("BEHEMOTH_HEARTBEAT_EVERY", "0.3")
    monkeypatch.setattr(run, "_run_experiment", lambda *a, **k: time.sleep(1.0) or "result")
    assert run.run_experiment(None, None) == "result"  # type: ignore[arg-type]
    assert "run_experiment: working, 0:00:0" in capsys.readouterr().err
