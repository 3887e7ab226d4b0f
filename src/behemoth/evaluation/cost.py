"""Edit cost: wall time and peak memory (:mod:`behemoth.measure`), the changed parameters of a
model (:func:`param_deltas`), and the split of result rows from what measures the machine.

The size of a weight edit (Frobenius norm, norm relative to the weight, numerical rank) is
computed once, by the edit itself: :func:`behemoth.editors.deltas.delta_norms`.
"""

from __future__ import annotations

from typing import Any

import torch

from behemoth.measure import EditCost, measure_cost

__all__ = [
    "EditCost",
    "measure_cost",
    "param_deltas",
    "split_measurements",
]


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
