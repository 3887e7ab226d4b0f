"""Whether the library's progress bars draw: yes by default; no while a sweep runs a config
(:func:`behemoth.experiments.sweep.backends.run_task`), where bars from the workers would
interleave with the sweep's own live summary on the same terminal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

_enabled = True


def bars_enabled() -> bool:
    """False inside :func:`quiet_bars`."""
    return _enabled


@contextmanager
def quiet_bars() -> Iterator[None]:
    """Silence the library's progress bars for the duration (restored after, also on error)."""
    global _enabled
    before, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = before
