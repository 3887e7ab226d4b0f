"""Edit cost: wall time, peak memory, and what a weight edit did to each changed matrix.

For weight changes dW (Gupta et al. 2024, "Model editing at scale leads to gradual and
catastrophic forgetting", Sec. 4: normalized distance |W - W0|_F / numel(W) per edited matrix)
we report the Frobenius norm, that normalized distance, and the numerical rank (singular values
above max(m, n) * eps * s_max, numpy's ``matrix_rank`` rule, unless ``rtol`` is given). A
ROME edit has rank 1; a MEMIT edit of K facts has rank <= K per layer.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch


def weight_delta_metrics(
    deltas: dict[str, torch.Tensor], rtol: float | None = None
) -> dict[str, dict[str, float]]:
    """Per changed matrix: ``fro_norm``, ``norm_per_numel`` (|dW|_F / numel) and ``rank``.

    ``deltas`` maps a parameter name to its change (edited - original). A 1-D delta (a bias) is
    treated as a 1 x n matrix. ``rtol`` overrides the relative singular-value threshold.
    """
    out: dict[str, dict[str, float]] = {}
    for name, d in deltas.items():
        m = d.detach().to(torch.float64)
        m = m.reshape(1, -1) if m.ndim < 2 else m.reshape(m.shape[0], -1)
        fro = float(torch.linalg.matrix_norm(m, ord="fro"))
        sv = torch.linalg.svdvals(m)
        smax = float(sv.max()) if sv.numel() else 0.0
        tol = smax * (
            rtol
            if rtol is not None
            else max(m.shape)
            * torch.finfo(d.dtype if d.dtype.is_floating_point else torch.float64).eps
        )
        rank = int((sv > tol).sum()) if smax > 0 else 0
        out[name] = {"fro_norm": fro, "norm_per_numel": fro / d.numel(), "rank": float(rank)}
    return out


def param_deltas(
    edited: torch.nn.Module, original: torch.nn.Module, atol: float = 0.0
) -> dict[str, torch.Tensor]:
    """Changed parameters (by name): edited - original, only where some entry differs by > atol."""
    ref = dict(original.named_parameters())
    out: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for name, p in edited.named_parameters():
            q = ref.get(name)
            if q is None or q.shape != p.shape:
                continue
            d = p.detach().to(q.device) - q.detach()
            if bool((d.abs() > atol).any()):
                out[name] = d
    return out


def _rss_bytes() -> int:
    """Resident set size now (Linux /proc), else the process's peak so far."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


@dataclass
class EditCost:
    """Measured cost of one edit (or one batch of edits)."""

    wall_time_s: float = 0.0
    peak_memory_bytes: int = 0  # peak (CUDA: allocated; CPU: resident set) during the block
    memory_increase_bytes: int = 0  # peak minus what was in use when the block started
    deltas: dict[str, dict[str, float]] = field(default_factory=dict)


@contextmanager
def measure_cost(
    device: torch.device | str = "cpu", interval_s: float = 0.002
) -> Iterator[EditCost]:
    """Time a block and track its peak memory (CUDA allocator stats, else sampled RSS).

    Usage: ``with measure_cost() as cost: edit(...)``; then ``cost.wall_time_s`` etc.
    """
    cost = EditCost()
    dev = torch.device(device)
    stop = threading.Event()
    peak = [0]
    sampler = None
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        start_mem = torch.cuda.memory_allocated(dev)
    else:
        start_mem = _rss_bytes()
        peak[0] = start_mem

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], _rss_bytes())
                stop.wait(interval_s)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
    t0 = time.perf_counter()
    try:
        yield cost
    finally:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        cost.wall_time_s = time.perf_counter() - t0
        if dev.type == "cuda":
            cost.peak_memory_bytes = int(torch.cuda.max_memory_allocated(dev))
        else:
            stop.set()
            assert sampler is not None
            sampler.join()
            peak[0] = max(peak[0], _rss_bytes())
            cost.peak_memory_bytes = peak[0]
        cost.memory_increase_bytes = max(0, cost.peak_memory_bytes - start_mem)


#: Cost rows that measure the machine (time, memory), not the edit: they differ from run to run.
MACHINE_METRICS = ("wall_time_s", "peak_memory_bytes", "memory_increase_bytes")
#: Per-batch keys of an editing run's log that measure the machine.
MACHINE_KEYS = ("wall_seconds", "peak_memory_bytes", "eval_seconds")


def split_measurements(
    rows: list[dict[str, Any]], batches: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """``(rows, batches, measurements)``: the result rows and per-batch log without what
    measures the machine, and those measurements apart, so that the same inputs and seed give
    byte-identical result files (the measurements go to a file of their own)."""
    kept = [r for r in rows if not (r.get("group") == "cost" and r["metric"] in MACHINE_METRICS)]
    machine = [r for r in rows if r.get("group") == "cost" and r["metric"] in MACHINE_METRICS]
    clean = [{k: v for k, v in b.items() if k not in MACHINE_KEYS} for b in batches]
    per_batch = [{k: b[k] for k in MACHINE_KEYS if k in b} for b in batches]
    return kept, clean, {"records": machine, "batches": per_batch}
