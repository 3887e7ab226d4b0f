"""Wall time and peak memory of a block of code: what an edit (or a batch of edits) costs.

A utility below every stage (editors measure their ``apply`` with it; evaluation records it).
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch


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
