"""Atomic output: write into a temporary sibling directory, then rename into place.

Nothing the user made is overwritten without ``force``; a failed run leaves nothing behind.

Interruption and concurrency. A run that writes ``out`` holds a lock, the hidden file
``.NAME.lock`` next to it, which records its process id and start time (a pid reused by
another process, e.g. after a reboot, does not hold the lock); a second run into the same place is
refused with that id while the first is alive, and ``force`` never removes what a live run
holds. The temporary directory ``.NAME.tmp-PID-XXXX`` records the id of the run that made it, so
a run killed with SIGKILL leaves something the next run into the same place recognizes as a dead
run's leftover and removes (and says so).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from behemoth.errors import BehemothError, OutputExistsError

log = logging.getLogger(__name__)
_HELD: dict[Path, int] = {}  # locks this process holds -> nesting depth


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a zombie counts as dead: it will never write again)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # Linux: a killed child not yet reaped by its parent is a zombie
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot: field 22 of /proc/PID/stat), or
    None where that cannot be read. With the pid it names one process: a pid reused after the
    process died (or after a reboot) has another start time."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def lock_text(pid: int | None = None) -> str:
    """What a lock records: ``PID START`` (``PID`` alone where start times cannot be read)."""
    pid = os.getpid() if pid is None else pid
    start = start_time(pid)
    return f"{pid} {start}\n" if start is not None else f"{pid}\n"


def lock_owner(text: str) -> int | None:
    """The live process a lock's text names, or None: dead, or its pid was reused (the
    process now holding the pid started at another time than the one recorded)."""
    parts = text.split()
    if not parts or not parts[0].isdigit() or len(parts) > 2:
        return None
    pid = int(parts[0])
    if not pid_alive(pid):
        return None
    if len(parts) == 2 and parts[1].isdigit():
        now = start_time(pid)
        if now is not None and now != int(parts[1]):
            return None
    return pid


def lock_path(out: str | Path) -> Path:
    out = Path(out)
    return out.parent / f".{out.name}.lock"


def _holder(lock: Path) -> int | None:
    """The live process holding ``lock``, or None if nobody (or a dead run) holds it."""
    try:
        pid = lock_owner(lock.read_text())
    except (OSError, UnicodeDecodeError):
        return None
    return pid if pid is not None and pid != os.getpid() else None


def lock_holder(out: str | Path) -> int | None:
    """The live process (not this one) holding ``out``'s lock, or None."""
    return _holder(lock_path(out))


def _drop_dead_lock(lock: Path) -> None:
    """Remove the lock a dead run left (put back anything else found there meanwhile)."""
    stale = lock.with_name(f"{lock.name}.stale-{os.getpid()}")
    try:
        os.replace(lock, stale)
    except OSError:
        return
    try:
        text = stale.read_text().strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    owner = lock_owner(text)
    if owner is not None and owner != os.getpid():
        with contextlib.suppress(OSError):
            os.link(stale, lock)  # a live run took it meanwhile: give it back
    stale.unlink(missing_ok=True)
    log.warning("removed %s, left by an interrupted run (process %s, no longer alive)", lock, text)


def _refuse_held(out: Path, pid: int) -> OutputExistsError:
    return OutputExistsError(
        f"--out: {out} is being written by a live run (process {pid}); wait for it to finish "
        "or choose another directory"
    )


#: What a command reads: ``{"WORLD": path, ...}`` (the label names the argument) or paths.
Inputs = Mapping[str, str | Path | None] | Iterable[str | Path | None]


def _labelled(inputs: Inputs) -> list[tuple[str, Path]]:
    items = inputs.items() if isinstance(inputs, Mapping) else (("input", p) for p in inputs)
    return [(label, Path(p)) for label, p in items if p is not None and str(p) != ""]


def check_not_input(out: str | Path, inputs: Inputs) -> None:
    """Refuse an output that is one of the command's inputs, contains one or lies inside one:
    writing it (``--force`` replaces ``out`` whole) would destroy what the command reads.
    Paths are compared after resolving symbolic links and ``..``."""
    o = Path(out).resolve()
    for label, p in _labelled(inputs):
        i = p.resolve()
        if o == i:
            how = "is"
        elif o in i.parents:
            how = "contains"
        elif i in o.parents:
            how = "lies inside"
        else:
            continue
        raise OutputExistsError(
            f"--out: {out} {how} the input {label} ({p}); writing it would destroy the input "
            "(even with --force): choose a directory outside the input"
        )


def check_out(
    out: str | Path,
    force: bool = False,
    marker: str | None = None,
    what: str = "an artifact",
    inputs: Inputs = (),
) -> Path:
    """Everything about ``out`` that can be checked before any work: it is not one of the
    ``inputs`` (nor contains one, nor lies inside one), a new or empty directory (or ``force``),
    its parent can be written, and no live run is writing it."""
    check_text_path("--out", out)
    out = Path(out)
    check_not_input(out, inputs)
    lock = lock_path(out)
    pid = _holder(lock)
    if pid is not None:
        raise _refuse_held(out, pid)
    if lock.exists() and lock.absolute() not in _HELD:
        _drop_dead_lock(lock)
    clean_leftovers(out)  # only dead runs' (their process ids are recorded in the names)
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise OutputExistsError(
                f"--out: {out} exists and is not a directory; choose another path"
            )
        if any(out.iterdir()) and not force:
            held = what if marker and (out / marker).exists() else "files"
            raise OutputExistsError(
                f"--out: {out} already holds {held}; choose another directory or pass --force to replace it"
            )
    anc = out.absolute().parent
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir():
        raise OutputExistsError(f"--out: {anc} is not a directory; choose another path")
    try:  # a real probe: permissions, read-only mounts, /proc ... (root ignores modes)
        with tempfile.TemporaryFile(dir=anc):
            pass
    except OSError as e:
        raise OutputExistsError(
            f"--out: cannot write in {anc} ({e.strerror or e}); choose a writable directory"
        ) from None
    return out


@contextlib.contextmanager
def out_lock(out: str | Path) -> Iterator[None]:
    """Hold the lock of ``out`` for the block (re-entrant within a process).

    A lock left by a dead process is taken over; one held by a live process refuses."""
    out = Path(out)
    lock = lock_path(out).absolute()
    if lock in _HELD:
        _HELD[lock] += 1
        try:
            yield
        finally:
            _HELD[lock] -= 1
        return
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputExistsError(f"--out: cannot create {lock.parent}: {e.strerror}") from None
    me = lock_text()
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            pid = _holder(lock)
            if pid is not None:
                raise _refuse_held(out, pid) from None
            stale = lock.with_name(f"{lock.name}.stale-{os.getpid()}")
            with contextlib.suppress(OSError):  # take over a dead run's lock, once
                os.replace(lock, stale)
                stale.unlink()
            continue
        except OSError as e:
            raise OutputExistsError(
                f"--out: cannot write in {lock.parent} ({e.strerror}); choose a writable directory"
            ) from None
        with os.fdopen(fd, "w") as f:
            f.write(me)
        break
    else:
        raise OutputExistsError(f"--out: could not take the lock {lock}; try again")
    _HELD[lock] = 1
    try:
        yield
    finally:
        _HELD.pop(lock, None)
        with contextlib.suppress(OSError):
            if lock.read_text() == me:
                lock.unlink()


def _leftover_pid(path: Path, prefix: str) -> int | None:
    """The process id recorded in a temporary name ``PREFIX-PID-...``, or None."""
    rest = path.name[len(prefix) :]
    head = rest.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def clean_leftovers(out: str | Path) -> list[Path]:
    """Remove what dead runs left next to ``out`` (``.NAME.tmp-PID-*``, ``.NAME.old-PID``);
    return what was removed. Leftovers of live processes are kept."""
    out = Path(out)
    removed: list[Path] = []
    if not out.parent.is_dir():
        return removed
    for kind in ("tmp", "old"):
        prefix = f".{out.name}.{kind}-"
        for p in out.parent.glob(f"{glob_escape(prefix)}*"):
            pid = _leftover_pid(p, prefix)
            if pid is None or pid == os.getpid() or pid_alive(pid):
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    p.unlink()
            log.warning(
                "removed %s, left by an interrupted run (process %d, no longer alive)", p, pid
            )
            removed.append(p)
    return removed


def check_text_path(field: str, path: str | Path) -> None:
    """A path given on the command line holds no line break or other control character (a
    name no listing, shell or log line shows as it is)."""
    bad = sorted({c for c in str(path) if ord(c) < 32 or ord(c) == 127})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise BehemothError(
            f"{field}: {str(path)!r} holds control characters ({shown}); give a path without them"
        )


def glob_escape(s: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in s)


@contextlib.contextmanager
def atomic_dir(
    out: str | Path,
    force: bool = False,
    marker: str | None = None,
    what: str = "an artifact",
    inputs: Inputs = (),
) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``out`` only if the block succeeds.

    ``out`` may already exist only if it is empty, or ``force`` is set. ``marker`` names
    the file that identifies the artifact kind (e.g. ``world.json``) and ``what`` describes it,
    for the error message. The run holds ``out``'s lock throughout and first removes the
    leftovers of dead runs into the same place. ``inputs``: what the block reads (``out``
    must not be, contain or lie inside any of them: see :func:`check_not_input`).
    """
    out = check_out(out, force, marker, what, inputs)
    with out_lock(out):
        check_out(out, force, marker, what, inputs)  # again, now that no other run can interfere
        clean_leftovers(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes 0700; the result should look like any new dir
        try:
            yield tmp
            old = None
            if out.exists():
                old = out.parent / f".{out.name}.old-{os.getpid()}"
                out.rename(old)
            tmp.rename(out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
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


def write_png(fig: Any, path: str | Path, dpi: int = 100) -> Path:
    """Save a matplotlib figure as PNG atomically (temp file + rename) without the software
    stamp (same figure, same bytes), and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    os.replace(tmp, path)
    return path


def read_json(path: str | Path, what: str = "") -> Any:
    """Read a JSON file; a missing, unreadable or malformed file is one ``BehemothError``
    naming the file (``what`` says what it should be, for the message)."""
    path = Path(path)
    label = f"{what} " if what else ""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BehemothError(f"{label}{path} is missing; regenerate it") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BehemothError(f"{label}{path} cannot be read ({e}); regenerate it") from None
    except json.JSONDecodeError as e:
        raise BehemothError(
            f"{label}{path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); "
            "regenerate it"
        ) from None


def free_bytes(out: str | Path) -> tuple[Path, int]:
    """Where ``out`` would be written and the bytes free there: the nearest existing folder of
    ``out`` (itself, when it exists) and its file system's free space, for the checks that
    refuse before writing what would not fit (shards, an export, an import's kept files)."""
    where = Path(out).absolute()
    while not where.exists():
        where = where.parent
    return where, shutil.disk_usage(where).free
