"""How many CPU threads torch uses: chosen from the cores actually free and the work's size.

torch starts as many threads as the machine has cores. On a machine shared with other jobs that
is the worst choice: an OpenMP parallel region waits for its slowest thread, and a thread whose
core another process holds arrives a scheduler slice late, at every one of the thousands of
small operations of a step (measured, issue 20: a 40-edit ROME stream on ``tiny`` took ~13 s
per edit with the default two threads on a busy 2-core machine, 0.37 s with one; the demo's
2-thread training ran ~15x slower than alone). And a small model gains little from a second
thread even on an idle machine: its matrices are too small to amortize the threads' fork and
join at every operation.

So every command chooses: :func:`choose_threads` (pure) gives one thread per core that other
processes leave free, and no more threads than the work's size pays for;
:func:`cpu_state` measures the cores and the load; :func:`use_threads` applies the choice and
says what it chose in one log line (``threads: 1 (2 cores, load 3.1)``).

Precedence, highest first:

1. ``--threads N`` on the command line (exported to the process and its workers as
   ``BEHEMOTH_THREADS``): exactly N threads, whatever the load.
2. ``OMP_NUM_THREADS`` set by the user (the command line reads it; spawned workers do not,
   since the sweep sets it to 1 in every worker): exactly that many.
3. The automatic choice, capped by what the operation names as its most (``train.threads`` of
   a model preset: the most threads that recipe is known to use well; the tiny model's 1).

The thread count is recorded where results are written (a trained model's ``provenance.json``):
results are bitwise identical only with the same thread count on the same machine (the
sweep pins one thread per run; :data:`REPRODUCIBLE_ENV` below is a training mode that is
identical across thread loads and x86 CPUs).
"""

from __future__ import annotations

import logging
import math
import os
import statistics
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from behemoth.errors import ConfigError

log = logging.getLogger(__name__)

#: The environment variable carrying ``--threads`` to the code that chooses (and to workers).
ENV = "BEHEMOTH_THREADS"

#: Work of one call (multiply-adds ~ parameters x tokens per call, :func:`forward_work`) that
#: a thread needs to pay for its synchronization: below it, one thread. Measured with
#: ``bench/bench_threads.py`` on an idle 2-core AMD EPYC (torch 2.13, AVX2): training ``tiny``
#: (0.72e9 per step) ran at 0.9x with two threads, ``demo`` (1.2e9) at 1.4x; a ROME edit on
#: ``tiny`` (calls of a few prompts) at 1.0x.
MIN_WORK_PER_THREAD = 1.0e9

#: A core counts as free when other processes leave at least 1 - SLACK of it idle: the load
#: figures carry noise (this machine's monitoring, a shell), a second thread behind a busy core
#: costs far more (the 15x above) than one thread on two idle cores (< 2x).
SLACK = 0.25


def choose_threads(cores: int, load: float, work_size: float) -> int:
    """Threads for an operation of ``work_size`` (multiply-adds per call, :func:`forward_work`)
    on ``cores`` usable cores that other processes load with ``load`` runnable tasks.

    ``min(floor(cores - load + SLACK), floor(work_size / MIN_WORK_PER_THREAD))``, at least 1:
    one thread per free core, and one per ``MIN_WORK_PER_THREAD`` of work."""
    if cores < 1:
        raise ValueError(f"cores must be >= 1, got {cores}")
    if not load >= 0:
        raise ValueError(f"load must be >= 0, got {load}")
    if not work_size >= 0:
        raise ValueError(f"work_size must be >= 0, got {work_size}")
    free = math.floor(cores - load + SLACK)
    by_work = math.floor(work_size / MIN_WORK_PER_THREAD) if math.isfinite(work_size) else cores
    return max(1, min(cores, free, by_work))


def forward_work(params: int, tokens_per_call: int) -> float:
    """The work of one call of a model of ``params`` parameters on ``tokens_per_call`` tokens
    (multiply-adds of its matmuls, ~ N per token: Kaplan et al. 2020, "Scaling Laws for Neural
    Language Models", Table 1, C_forward ~ 2N FLOPs per token)."""
    return float(params) * float(tokens_per_call)


def gpt_params(vocab: int, width: int, layers: int, mlp: int) -> int:
    """Parameters of a GPT-NeoX of this shape without biases and norms: untied input and output
    embeddings (2 V d) and per layer attention (4 d^2) and MLP (2 d m)."""
    return 2 * vocab * width + layers * (4 * width * width + 2 * width * mlp)


@dataclass(frozen=True)
class CpuState:
    """The cores this process may use and the load other processes put on the machine."""

    cores: int
    load: float

    def describe(self) -> str:
        return f"{self.cores} core{'s' if self.cores != 1 else ''}, load {self.load:.1f}"


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, bounded by a cgroup v2 CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def _running_others() -> float | None:
    """Runnable tasks of other processes now: ``/proc/loadavg``'s running count less this
    process's own running threads (the reader among them)."""
    try:
        running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None
    own = 0
    try:
        for task in Path("/proc/self/task").iterdir():
            try:
                stat = (task / "stat").read_text()
            except OSError:
                continue
            own += stat[stat.rindex(")") + 2] == "R"
    except OSError:
        own = 1
    return float(max(0, running - max(1, own)))


def _own_rate() -> float:
    """Cores this process has kept busy on average (CPU time / age, the age at least a minute):
    its own share of the 1-minute load average."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        stat = Path("/proc/self/stat").read_text()
        start = int(stat[stat.rindex(")") + 2 :].split()[19]) / ticks
        age = float(Path("/proc/uptime").read_text().split()[0]) - start
    except (OSError, ValueError, IndexError):
        return 0.0
    t = os.times()
    return (t.user + t.system) / max(age, 60.0)


def other_load(samples: int = 5, interval: float = 0.01) -> float:
    """The load other processes put on the machine: the larger of the median of ``samples``
    counts of their runnable tasks (``interval`` s apart) and the 1-minute load average less
    this process's own share. The average catches jobs that run in bursts; it lags a job's end
    by a minute or two, which errs toward fewer threads, the cheap side."""
    counts = []
    for i in range(samples):
        c = _running_others()
        if c is None:
            break
        counts.append(c)
        if i + 1 < samples:
            time.sleep(interval)
    now = statistics.median(counts) if counts else 0.0
    try:
        avg = os.getloadavg()[0] - _own_rate()
    except OSError:
        avg = 0.0
    return max(0.0, now, avg)


def cpu_state() -> CpuState:
    return CpuState(usable_cores(), round(other_load(), 2))


def parse_threads(text: str, where: str) -> int:
    """A thread count given as text (a flag's or a variable's value): a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(where, f"{text!r} is not a whole number", "give a count >= 1") from None
    if value < 1:
        raise ConfigError(where, f"{value} threads", "give a count >= 1, e.g. 1") from None
    return value


def requested(env: Mapping[str, str] | None = None, *, omp: bool = False) -> tuple[int, str] | None:
    """The thread count asked for explicitly, and by what: ``BEHEMOTH_THREADS`` (``--threads``),
    then (with ``omp``) ``OMP_NUM_THREADS``; None when neither is set."""
    variables: Mapping[str, str] = os.environ if env is None else env
    names = [ENV, "OMP_NUM_THREADS"] if omp else [ENV]
    for name in names:
        text = variables.get(name, "").strip()
        if text:
            return parse_threads(text, name), "--threads" if name == ENV else name
    return None


def decide(
    work_size: float, cap: int | None = None, state: CpuState | None = None
) -> tuple[int, str]:
    """The threads an operation of ``work_size`` uses here and the reason, for the log line:
    the explicit request if any (:func:`requested`), else :func:`choose_threads` on the
    measured :func:`cpu_state`, at most ``cap``."""
    asked = requested()
    if asked is not None:
        return asked[0], asked[1]
    state = cpu_state() if state is None else state
    n = choose_threads(state.cores, state.load, work_size)
    why = state.describe()
    if n < choose_threads(state.cores, state.load, math.inf):
        why += ", small model"
    if cap is not None and cap < n:
        n, why = cap, f"{why}, at most {cap} for this recipe"
    return n, why


_interop_set = False


def set_threads(n: int) -> None:
    """torch's intra-op threads to ``n``; its inter-op pool to 1 thread (nothing in behemoth
    runs operations side by side, so more would only be idle threads), once per process and only
    while torch still allows it (before its first parallel work)."""
    global _interop_set
    import torch

    torch.set_num_threads(n)
    if not _interop_set:
        _interop_set = True
        with suppress(RuntimeError):  # already set, or inter-op work already started
            torch.set_num_interop_threads(1)


#: A thread choice made before a command checked its inputs, said when its work starts
#: (:func:`announce`): said at once, it would make a refusal of bad input two lines.
_pending: list[str] = []


def use_threads(work_size: float, what: str, cap: int | None = None, defer: bool = False) -> int:
    """Choose (:func:`decide`), apply and log the threads of ``what``; returns the count.
    ``defer``: log it at :func:`announce` instead (the command's work starts), not now."""
    n, why = decide(work_size, cap)
    set_threads(n)
    msg = f"threads: {n} ({why}) for {what}"
    if defer:
        _pending[:] = [msg]
    else:
        log.info("%s", msg)
    return n


def announce() -> None:
    """Log a deferred thread choice, once (called where a command starts its work: loading a
    model, or the end of a command that loaded none)."""
    while _pending:
        log.info("%s", _pending.pop())


def forget_pending() -> None:
    """Drop a deferred thread choice (the command refused its input: one line, the error)."""
    _pending.clear()


@contextmanager
def threads_for(work_size: float, what: str, cap: int | None = None) -> Iterator[int]:
    """:func:`use_threads` for the block; torch's earlier thread count is restored after it."""
    import torch

    before = torch.get_num_threads()
    n = use_threads(work_size, what, cap)
    try:
        yield n
    finally:
        torch.set_num_threads(before)


# --- Training that is bitwise identical across x86 CPUs (issue 20, point 6) -----------------

#: What the reproducible mode pins, before torch first dispatches a kernel: ATen's portable
#: kernels (``DEFAULT``: no AVX2 / AVX-512 code, which sums in another order and uses other
#: exp/log approximations) and MKL's conditional numerical reproducibility on its
#: ``COMPATIBLE`` branch (the SSE2 code path every x86-64 CPU runs, Intel's or AMD's).
REPRODUCIBLE_ENV = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"}
#: MKL's ``mkl_cbwr_get`` / ``mkl_cbwr_set`` codes (mkl_service.h).
_MKL_CBWR_BRANCH, _MKL_CBWR_COMPATIBLE = 1, 3


def _mkl_cbwr() -> tuple[object, object] | None:
    """MKL's ``mkl_serv_cbwr_get`` / ``_set`` from torch's own library (MKL is linked into it),
    or None when this torch has no MKL."""
    import ctypes

    import torch

    lib_dir = Path(torch.__file__).parent / "lib"
    for name in ("libtorch_cpu.so", "libtorch_cpu.dylib", "torch_cpu.dll"):
        try:
            lib = ctypes.CDLL(str(lib_dir / name))
            get, set_ = lib.mkl_serv_cbwr_get, lib.mkl_serv_cbwr_set
        except (OSError, AttributeError):
            continue
        get.restype = set_.restype = ctypes.c_int
        get.argtypes = set_.argtypes = [ctypes.c_int]
        return get, set_
    return None


def reproducible_problem() -> str | None:
    """Pin this process for the reproducible mode (:data:`REPRODUCIBLE_ENV`) and say what, if
    anything, keeps it from holding: None when ATen runs its ``DEFAULT`` kernels and MKL its
    ``COMPATIBLE`` branch. Both are fixed at their first use in a process, so this works until
    torch first computes something, not after (a process that already did must be restarted
    with the variables set)."""
    os.environ.update(REPRODUCIBLE_ENV)  # whatever was asked before: the mode means these
    import torch

    cap = torch.backends.cpu.get_cpu_capability()
    if cap != "DEFAULT":
        return f"this process already runs ATen's {cap} kernels"
    fns = _mkl_cbwr()
    if fns is None:
        return "this torch has no MKL (its BLAS picks kernels per CPU)"
    get, set_ = fns
    if get(_MKL_CBWR_BRANCH) != _MKL_CBWR_COMPATIBLE:  # type: ignore[operator]
        set_(_MKL_CBWR_COMPATIBLE)  # type: ignore[operator]
    if get(_MKL_CBWR_BRANCH) != _MKL_CBWR_COMPATIBLE:  # type: ignore[operator]
        return "MKL already ran on another code path"
    return None


@contextmanager
def training_threads(work_size: float, cap: int | None, reproducible: bool) -> Iterator[int]:
    """The threads of a training run: exactly ``cap`` (the recipe's ``train.threads``) unless
    ``--threads`` / ``OMP_NUM_THREADS`` ask otherwise, so that a recipe's weights do not depend
    on the machine's load; without a cap, :func:`threads_for` (chosen from the free cores). With ``reproducible``, the mode that gives the same weights on every
    x86-64 CPU at every load: one thread, ATen's portable kernels and MKL's compatible branch
    (:func:`reproducible_problem`), oneDNN off (it generates code for the CPU it runs on) and
    ``torch.use_deterministic_algorithms``. What is switched is restored after the block."""
    if not reproducible:
        if cap is not None and requested(omp=True) is None:
            # A recipe that names its threads trains on exactly that many, whatever the load:
            # the thread count sets the order of float sums, and the same config and seed must
            # give the same weights on the same machine (only an explicit --threads changes it).
            import torch

            before = torch.get_num_threads()
            set_threads(cap)
            log.info("threads: %d (the recipe's train.threads) for training", cap)
            try:
                yield cap
            finally:
                torch.set_num_threads(before)
            return
        with threads_for(work_size, "training", cap) as n:
            yield n
        return
    asked = requested()
    if asked is not None and asked[0] != 1:
        raise ConfigError(
            "train.reproducible",
            f"trains on one thread, not the {asked[0]} of {asked[1]}",
            "drop --threads (or give 1), or drop train.reproducible",
        )
    problem = reproducible_problem()
    if problem is not None:
        raise ConfigError(
            "train.reproducible",
            problem,
            "run `behemoth train` in a new process, or start Python with "
            + " ".join(f"{k}={v}" for k, v in REPRODUCIBLE_ENV.items()),
        )
    import torch

    before = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    set_threads(1)
    torch.use_deterministic_algorithms(True)
    log.info("threads: 1 (reproducible training: portable kernels, MKL compatible branch)")
    try:
        with torch.backends.mkldnn.flags(enabled=False):
            yield 1
    finally:
        torch.set_num_threads(before)
        torch.use_deterministic_algorithms(deterministic)
