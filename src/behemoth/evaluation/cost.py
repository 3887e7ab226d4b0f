"""Edit cost: wall time, peak memory, and what a weight edit did to each changed matrix.

For weight changes dW (Gupta et al. 2024, "Model editing at scale leads to gradual and
catastrophic forgetting", Sec. 4: normalized distance |W - W0|_F / numel(W) per edited matrix)
we report the Frobenius norm, that normalized distance, and the numerical rank (singular values
above max(m, n) * eps * s_max, numpy's ``matrix_rank`` rule, unless ``rtol`` is given). A
ROME edit has rank 1; a MEMIT edit of K facts has rank <= K per layer.
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
    "weight_delta_metrics",
]


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
