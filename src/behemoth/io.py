"""Atomic output: write into a temporary sibling directory, then rename into place.

Nothing the user made is overwritten without ``force``; a failed run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from behemoth.errors import OutputExistsError


@contextlib.contextmanager
def atomic_dir(
    out: str | Path, force: bool = False, marker: str | None = None, what: str = "an artifact"
) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``out`` only if the block succeeds.

    ``out`` may already exist only if it is empty, or ``force`` is set. ``marker`` names
    the file that identifies the artifact kind (e.g. ``world.json``) and ``what`` describes it,
    for the error message.
    """
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise OutputExistsError(
                f"--out: {out} exists and is not a directory; choose another path"
            )
        if any(out.iterdir()) and not force:
            held = what if marker and (out / marker).exists() else "files"
            raise OutputExistsError(
                f"--out: {out} already holds {held}; choose another directory or pass --force to replace it"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes 0700; the result should look like any new directory
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically (temp file + rename), sorted keys for byte-identical output."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())
