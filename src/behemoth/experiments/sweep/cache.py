"""Shared artifacts of a sweep, built once: a file lock plus "build if absent", keyed by config.

Worlds, trained models and covariance statistics are the same for many runs. The first run that
needs one takes an exclusive lock on ``<root>/<kind>/<key>.lock`` (``fcntl.flock``: released by
the kernel if the process dies, so a killed sweep never leaves a stale lock), builds the
artifact into ``<root>/<kind>/<key>`` atomically, and every later run (in this process, another
worker, or another machine on a shared filesystem that honours ``flock``) finds it there.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from behemoth.experiments.sweep.spec import config_hash


@contextlib.contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created if needed) for the duration of the block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def artifact_dir(root: str | Path, kind: str, config: Any) -> Path:
    """Where the ``kind`` artifact of ``config`` lives under ``root`` (built or not)."""
    return Path(root) / kind / config_hash(config, 16)


def shared_artifact(
    root: str | Path,
    kind: str,
    config: Any,
    build: Callable[[Path], Any],
    is_built: Callable[[Path], bool],
) -> Path:
    """The directory of the ``kind`` artifact of ``config`` under ``root``, built if absent.

    ``build(path)`` must write the artifact to ``path`` atomically (behemoth's builders do);
    ``is_built(path)`` says whether a complete artifact is there. The key is a hash of the
    config, so two configs never share an artifact and one config never builds twice.
    """
    d = artifact_dir(root, kind, config)
    if is_built(d):
        return d
    with file_lock(d.with_name(f"{d.name}.lock")):
        if not is_built(d):  # another process may have built it while we waited
            build(d)
    return d
