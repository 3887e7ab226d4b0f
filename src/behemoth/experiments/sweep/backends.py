"""Where the runs of a sweep execute: a local process pool (default) or a Ray cluster.

Both call the same task, :func:`run_task`, with the same arguments, and every run uses one
thread, so a run's rows are the same on either backend. A backend yields finished tasks as
they complete; the runner records them (in any order) and the table is assembled in run id
order, so the order of completion never shows in the results.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import sys
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from behemoth.errors import BehemothError
from behemoth.progress import quiet_bars

#: Memory a run may need (torch, a small model, its copies and scores): bounds the pool size.
RUN_MEMORY_BYTES = 1_500_000_000


@dataclass
class TaskResult:
    run_id: str
    rows: list[dict[str, Any]]
    timings: dict[str, float]
    error: str | None
    items: Any = None  # a pyarrow Table of the run's per-item values (None: none kept)
    batches: list[dict[str, Any]] | None = None  # per batch: requests, update_fro, editor info


def resolve_function(path: str) -> Any:
    """``"package.module:function"`` -> the function (importable in any worker)."""
    mod, _, name = path.partition(":")
    return getattr(importlib.import_module(mod), name)


def run_task(fn_path: str, config: dict[str, Any], run_id: str, shared: str) -> TaskResult:
    """Run one config; an exception becomes the run's recorded error (the sweep goes on).

    While it runs, ``<shared>/.started/<run_id>`` exists: if the worker dies, the backend knows
    which runs it was holding."""
    marker = started_marker(shared, run_id)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    try:
        with quiet_bars():  # the sweep's live summary owns the terminal
            out = resolve_function(fn_path)(config, run_id, Path(shared))
        marker.unlink(missing_ok=True)
        return TaskResult(
            run_id, out.rows, out.timings, None, out.items, getattr(out, "batches", None)
        )
    except Exception as e:  # a failing run is data, not the end of the sweep
        where = traceback.extract_tb(e.__traceback__)[-1]
        msg = f"{type(e).__name__}: {e} (at {Path(where.filename).name}:{where.lineno})"
        marker.unlink(missing_ok=True)
        return TaskResult(run_id, [], {}, msg)


def started_marker(shared: str | Path, run_id: str) -> Path:
    return Path(shared) / ".started" / run_id


Task = tuple[str, dict[str, Any], str, str]  # fn_path, config, run_id, shared


class Backend(ABC):
    """Runs tasks; ``running`` is how many are executing now."""

    running: int = 0

    @abstractmethod
    def run(self, tasks: list[Task]) -> Iterator[TaskResult | None]:
        """Yield each task's result as it finishes, and None about every second in between
        (so that a status line can refresh)."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release workers."""


def available_memory() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return RUN_MEMORY_BYTES * (os.cpu_count() or 1)


def default_workers() -> int:
    """One worker per core, fewer if memory cannot hold that many runs."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, available_memory() // RUN_MEMORY_BYTES))


def memory_bound() -> int:
    """The most workers this machine's available memory holds (``RUN_MEMORY_BYTES`` each)."""
    return max(1, available_memory() // RUN_MEMORY_BYTES)


#: ``prctl`` option: the signal the kernel sends this process when its parent dies (Linux).
PR_SET_PDEATHSIG = 1
#: How often a worker's watchdog looks whether its parent is still there (seconds).
WATCHDOG_S = 1.0


def die_with_parent(parent: int) -> None:
    """Make this process end when process ``parent`` (which started it) ends, however it ends
    (kill -9 included): the kernel's parent-death signal where there is one (Linux
    ``prctl(PR_SET_PDEATHSIG, SIGKILL)``), and everywhere a daemon thread that exits the
    process once its parent is gone (it is then re-parented: ``getppid()`` changes)."""
    import signal
    import threading

    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the watchdog alone
            pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(WATCHDOG_S)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="behemoth-parent-watchdog", daemon=True).start()


def _init_worker(parent: int | None = None) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if parent is not None:
        die_with_parent(parent)


class LocalBackend(Backend):
    """A pool of ``workers`` spawned processes (0 = run in this process, one after another)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = default_workers() if workers is None else workers
        if self.workers < 0:
            raise BehemothError("--workers: must be >= 0; give 0 to run in this process")
        most = memory_bound()
        if self.workers > most:
            raise BehemothError(
                f"--workers: {self.workers} runs at once would need about "
                f"{self.workers * RUN_MEMORY_BYTES / 1e9:,.1f} GB but "
                f"{available_memory() / 1e9:,.1f} GB is available; give at most {most} "
                "(or leave --workers out: the default fits memory)"
            )

    def run(self, tasks: list[Task]) -> Iterator[TaskResult | None]:
        if self.workers == 0:
            for t in tasks:
                self.running = 1
                res = run_task(*t)
                self.running = 0
                yield res
            return
        ctx = multiprocessing.get_context("spawn")  # never fork a process holding torch threads
        todo = {t[2]: t for t in tasks}
        alone: list[str] = []  # runs held by a worker that died: each rerun in a pool of its own
        stalls = 0  # pools that broke before any run had started (e.g. a worker failing to start)
        while todo:
            # A worker that dies (killed, out of memory) breaks the pool. The runs it was holding
            # (started, unfinished) are rerun alone; one that kills its worker alone is recorded
            # as failed; runs that had not started go back in the queue.
            solo = bool(alone)
            batch = {alone[0]: todo[alone[0]]} if solo else dict(todo)
            for t in batch.values():
                started_marker(t[3], t[2]).unlink(missing_ok=True)
            broke_idle = False
            with ProcessPoolExecutor(
                max_workers=1 if solo else min(self.workers, len(batch)),
                mp_context=ctx,
                initializer=_init_worker,
                initargs=(os.getpid(),),
            ) as pool:
                futures = {pool.submit(run_task, *t): rid for rid, t in batch.items()}
                pending: set[Future[TaskResult]] = set(futures)
                try:
                    while pending:
                        self.running = min(self.workers, len(pending))
                        done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                        for f in done:
                            rid = futures[f]
                            try:
                                res = f.result()
                            except BrokenProcessPool:
                                if solo:
                                    alone.remove(rid)
                                    todo.pop(rid)
                                    yield TaskResult(rid, [], {}, _DIED)
                                elif started_marker(todo[rid][3], rid).exists():
                                    alone.append(rid)
                                else:
                                    broke_idle = True
                                continue
                            if rid in alone:
                                alone.remove(rid)
                            todo.pop(rid)
                            yield res
                        if not done:
                            yield None
                finally:
                    for f in pending:
                        f.cancel()
            stalls = stalls + 1 if broke_idle and not alone else 0
            if stalls >= 3:
                for rid in list(todo):
                    todo.pop(rid)
                    yield TaskResult(rid, [], {}, "WorkerDied: workers die before any run starts")
        self.running = 0


_DIED = "WorkerDied: the process running it died (killed, or out of memory)"


class RayBackend(Backend):
    """Ray tasks of one CPU each: on the cluster at ``address``, else on a local instance.

    Shared artifacts are written under the sweep's shared directory, so on a multi-machine
    cluster that directory must be on a filesystem every node sees (``--shared``).
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise BehemothError(
                "--backend ray: ray is not installed; install behemoth[ray] or use --backend local"
            ) from None
        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            if address:
                ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
            else:
                # Workers import what this process imports (the same sys.path).
                env = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
                ray.init(
                    num_cpus=num_cpus or default_workers(),
                    include_dashboard=False,
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                    runtime_env={"env_vars": {**env, "OMP_NUM_THREADS": "1"}},
                )
            self.started = True
        self._remote = ray.remote(num_cpus=1, max_retries=0)(run_task)

    def run(self, tasks: list[Task]) -> Iterator[TaskResult | None]:
        ray = self.ray
        cpus = int(ray.cluster_resources().get("CPU", 1))
        pending = [self._remote.remote(*t) for t in tasks]
        while pending:
            self.running = min(cpus, len(pending))
            done, pending = ray.wait(pending, num_returns=1, timeout=1.0)
            for ref in done:
                yield ray.get(ref)
            if not done:
                yield None
        self.running = 0

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def make_backend(name: str, workers: int | None = None, address: str | None = None) -> Backend:
    if name == "local":
        return LocalBackend(workers)
    if name == "ray":
        return RayBackend(address, workers)
    raise BehemothError(f"--backend: unknown backend {name!r}; choose local or ray")
