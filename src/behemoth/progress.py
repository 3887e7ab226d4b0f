"""Progress of long work: a bar on a terminal, plain lines in pipes and logs.

:func:`bar` is the one place progress is made: on a terminal (stderr is a tty) it is a tqdm
bar; otherwise (a pipe, a log file, CI) a :class:`Lines` reporter that writes one plain line
every ``BEHEMOTH_PROGRESS_EVERY`` seconds (default 5) and one at the end, e.g.
``edit 12/40 (30%) 0:00:21 elapsed, ~0:00:49 left, loss=0.113``, never a carriage-return
frame. Code that builds its own tqdm bar asks :func:`bars_enabled`; when the command line runs
with stderr off a terminal, :func:`plain_stderr` turns those bars' carriage-return frames into
the same periodic plain lines (one place for every bar, tqdm's and Hugging Face's included),
and a :class:`Heartbeat` says the command is still working whenever neither stdout nor stderr
got a line for ``BEHEMOTH_HEARTBEAT_EVERY`` seconds (default 8; loading torch and a model on a
busy machine takes 20-30 s before any work can report progress). Bars and lines are silent inside
:func:`quiet_bars` (a sweep's workers, whose bars would interleave with the sweep's own live
summary on the same terminal, :func:`behemoth.experiments.sweep.backends.run_task`).
"""

from __future__ import annotations

import io
import math
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any, cast

_enabled = True
ENV_EVERY = "BEHEMOTH_PROGRESS_EVERY"
ENV_HEARTBEAT = "BEHEMOTH_HEARTBEAT_EVERY"


def on_terminal(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (default: stderr) is a terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed, or not a file
        return False


def bars_enabled() -> bool:
    """Draw progress (a bar, or its lines in a pipe)? False inside :func:`quiet_bars`."""
    return _enabled


@contextmanager
def quiet_bars() -> Iterator[None]:
    """Silence the library's progress for the duration (restored after, also on error)."""
    global _enabled
    before, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = before


def every_seconds() -> float:
    """Seconds between two plain progress lines (``BEHEMOTH_PROGRESS_EVERY``, default 5: a
    line is written at the first update after that many seconds, so a pipe never waits much
    longer than twice that)."""
    raw = os.environ.get(ENV_EVERY, "")
    try:
        value = float(raw) if raw else 5.0
    except ValueError:
        from behemoth.errors import ConfigError

        raise ConfigError(ENV_EVERY, f"{raw!r} is not a number", "give seconds, e.g. 10") from None
    return max(0.0, value)


#: Default seconds of silence before a heartbeat line: under the 10 s a newcomer should ever
#: wait for a line, above the few seconds most refusals take (so a refusal stays one line).
HEARTBEAT_DEFAULT = 8.0


def heartbeat_seconds() -> float:
    """Seconds of silence before a :class:`Heartbeat` line (``BEHEMOTH_HEARTBEAT_EVERY``,
    default :data:`HEARTBEAT_DEFAULT`; 0 turns heartbeats off, e.g. in a test suite that counts
    the lines of an error)."""
    raw = os.environ.get(ENV_HEARTBEAT, "")
    if not raw:
        return HEARTBEAT_DEFAULT
    try:
        return max(0.0, float(raw))
    except ValueError:
        from behemoth.errors import ConfigError

        raise ConfigError(
            ENV_HEARTBEAT, f"{raw!r} is not a number", "give seconds, e.g. 5"
        ) from None


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Lines:
    """A progress reporter for pipes: the same calls as a tqdm bar (``update``,
    ``set_postfix``, ``set_description``, ``close``, iteration, ``with``), written as whole
    lines at most every ``every`` seconds, and once at the end."""

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        *,
        total: int | float | None = None,
        desc: str = "",
        unit: str = "it",
        initial: int | float = 0,
        every: float | None = None,
        stream: IO[str] | None = None,
        clock: Any = time.monotonic,
        **_: Any,
    ) -> None:
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable = iterable
        self.total = total
        self.desc = desc
        self.unit = unit
        self.n = initial
        self.start_n = initial
        self.every = every_seconds() if every is None else every
        self.stream = stream
        self._clock = clock
        self.start = clock()
        self._last = self.start
        self.postfix = ""
        self.closed = False

    # -- the tqdm calls ------------------------------------------------------------------------
    def update(self, n: int | float = 1) -> None:
        self.n += n
        now = self._clock()
        if now - self._last >= self.every:
            self._last = now
            self.write(self.line(now))

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, **kwargs: Any) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, s: str = "", **_: Any) -> None:
        self.postfix = s

    def set_description(self, desc: str | None = None, **_: Any) -> None:
        self.desc = desc or ""

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.n != self.start_n or self.total:
                self.write(self.line(self._clock()) + " done")

    def __iter__(self) -> Iterator[Any]:
        assert self.iterable is not None, "Lines(iterable) to iterate"
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> Lines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the line ------------------------------------------------------------------------------
    def line(self, now: float) -> str:
        elapsed = now - self.start
        parts = [self.desc] if self.desc else []
        done = self.n - self.start_n
        if self.total:
            parts.append(
                f"{_num(self.n)}/{_num(self.total)} {self.unit} ({self.n / self.total:.0%})"
            )
        else:
            parts.append(f"{_num(self.n)} {self.unit}")
        timing = f"{_clock(elapsed)} elapsed"
        if self.total and done > 0 and self.n < self.total:
            left = elapsed / done * (self.total - self.n)
            timing += f", ~{_clock(left)} left"
        parts.append(timing)
        text = " ".join(parts[:-1]) + f", {parts[-1]}" if len(parts) > 1 else parts[0]
        return f"{text}, {self.postfix}" if self.postfix else text

    def write(self, text: str) -> None:
        stream = sys.stderr if self.stream is None else self.stream
        print(text, file=stream, flush=True)


def _num(x: int | float) -> str:
    return f"{x:,}" if float(x).is_integer() else f"{x:,.1f}"


class _Silent(Lines):
    def write(self, text: str) -> None:
        pass


def bar(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | float | None = None,
    desc: str = "",
    unit: str = "it",
    disable: bool = False,
    **kwargs: Any,
) -> Any:
    """Progress of ``total`` units: a tqdm bar on a terminal, :class:`Lines` elsewhere, nothing
    when ``disable`` or inside :func:`quiet_bars`. Takes tqdm's arguments."""
    if disable or not _enabled:
        return _Silent(iterable, total=total, desc=desc, unit=unit, **kwargs)
    if on_terminal():
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, dynamic_ncols=True, **kwargs)
    return Lines(iterable, total=total, desc=desc, unit=unit, **kwargs)


# --- carriage-return frames -> plain lines, for stderr off a terminal ---------------------------

_BAR = re.compile(r"\s*\|[^|\n]*\|\s*")  # tqdm's "|####      |" drawing


class _InFront(io.TextIOBase):
    """A writable text stream in front of ``target``: its encoding and file number."""

    target: IO[str]

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", None) or "utf-8"

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.target.fileno()


class FrameFilter(_InFront):
    """A text stream in front of ``target`` that passes lines through and turns progress bar
    frames (text ended by ``\r``) into plain lines: the first frame of a bar, then the latest
    at most every ``every`` seconds, and the last when the bar ends (a newline, or the blank
    frame of a bar that clears itself). The drawing between ``|`` is dropped."""

    def __init__(self, target: IO[str], every: float | None = None, clock: Any = time.monotonic):
        super().__init__()
        self.target = target
        self.every = every_seconds() if every is None else every
        self._clock = clock
        self._partial = ""
        self._frame: str | None = None  # the latest frame not written yet
        self._in_bar = False
        self._fresh = False
        self._last = -math.inf

    def isatty(self) -> bool:
        return False

    def _emit(self, frame: str) -> None:
        text = _BAR.sub(" ", frame).strip()
        if text:
            self.target.write(text + "\n")
            self._last = self._clock()

    def write(self, s: str) -> int:
        for piece in re.split(r"(\r|\n)", s):
            if piece == "\r":
                if not self._in_bar:  # what follows a carriage return is a bar's frame
                    self._in_bar, self._fresh = True, True
                if self._partial.strip():
                    if self._fresh or self._clock() - self._last >= self.every:
                        self._emit(self._partial)
                        self._frame, self._fresh = None, False
                    else:
                        self._frame = self._partial
                elif self._frame is not None:  # a bar clearing itself: its last state
                    self._emit(self._frame)
                    self._frame = None
                self._partial = ""
            elif piece == "\n":
                if self._in_bar:
                    last = self._partial if self._partial.strip() else self._frame
                    if last is not None:
                        self._emit(last)
                    self._in_bar, self._frame = False, None
                else:
                    self.target.write(self._partial + "\n")
                self._partial = ""
            else:
                self._partial += piece
        return len(s)

    def flush(self) -> None:
        if self._partial and not self._in_bar:
            self.target.write(self._partial)
            self._partial = ""
        self.target.flush()

    def close_bar(self) -> None:
        """At the end: write what a bar left unwritten."""
        last = self._partial if self._partial.strip() else self._frame
        if self._in_bar and last is not None:
            self._emit(last)
        self._partial, self._frame, self._in_bar = "", None, False
        self.flush()


class _Stamped(_InFront):
    """A text stream in front of ``target`` that notes when it was last written to."""

    def __init__(self, target: IO[str], clock: Any) -> None:
        super().__init__()
        self.target = target
        self._clock = clock
        self.last = clock()

    def isatty(self) -> bool:
        return bool(self.target.isatty())

    def write(self, s: str) -> int:
        if s:
            self.last = self._clock()
        return self.target.write(s)

    def __getattr__(self, name: str) -> Any:  # buffer, errors, ...: the target's
        return getattr(self.target, name)

    def flush(self) -> None:
        self.target.flush()


class Heartbeat:
    """Off a terminal: a plain line on ``target`` (``what: working, 0:00:15 elapsed``) whenever
    the watched streams got nothing for ``every`` seconds, from a daemon thread, so that a
    pipe or a log never goes silent while a command imports, loads or computes without a bar.
    ``every`` <= 0 (a line at every update already) turns it off."""

    def __init__(
        self,
        what: str,
        target: IO[str],
        watched: list[_Stamped],
        every: float | None = None,
        clock: Any = time.monotonic,
        tick: float = 0.25,
    ) -> None:
        import threading

        self.what = what
        self.target = target
        self.watched = watched
        self.every = heartbeat_seconds() if every is None else every
        self._clock = clock
        self._tick = tick
        self.start = clock()
        self._last_beat = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="behemoth-heartbeat", daemon=True)

    def last_output(self) -> float:
        return max([self._last_beat, *(w.last for w in self.watched)])

    def beat(self) -> bool:
        """Write the line if the streams were silent for ``every`` seconds; True if written."""
        now = self._clock()
        if self.every <= 0 or now - self.last_output() < self.every:
            return False
        self._last_beat = now
        try:
            self.target.write(f"{self.what}: working, {_clock(now - self.start)} elapsed\n")
            self.target.flush()
        except (ValueError, OSError):  # the stream was closed under us: nothing to say
            self._stop.set()
        return True

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            self.beat()

    def __enter__(self) -> Heartbeat:
        if self.every > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


@contextmanager
def plain_stderr(what: str = "behemoth") -> Iterator[None]:
    """While the block runs, stderr off a terminal gets plain lines instead of bar frames, and
    a :class:`Heartbeat` (``what: working, ...``) whenever stdout and stderr were silent for
    ``BEHEMOTH_HEARTBEAT_EVERY`` seconds (default 8; stderr on a terminal is left alone). Inside another
    ``plain_stderr`` (the command line around an API call) or :func:`quiet_bars` (a sweep's
    workers) it changes nothing."""
    if on_terminal() or isinstance(sys.stderr, FrameFilter) or not _enabled:
        yield
        return
    original, original_out = sys.stderr, sys.stdout
    err = _Stamped(original, time.monotonic)
    out = _Stamped(original_out, time.monotonic)
    filt = FrameFilter(cast("IO[str]", err))
    sys.stderr = filt  # type: ignore[assignment]
    sys.stdout = out  # type: ignore[assignment]
    try:
        with Heartbeat(what, cast("IO[str]", err), [err, out]):
            yield
    finally:
        filt.close_bar()
        if sys.stderr is filt:
            sys.stderr = original
        if sys.stdout is out:
            sys.stdout = original_out
