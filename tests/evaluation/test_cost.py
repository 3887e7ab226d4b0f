"""Edit-cost metrics on deltas whose norm and rank are known by construction."""

from __future__ import annotations

import mmap
import time

import numpy as np
import pytest
import torch

from behemoth.evaluation.cost import measure_cost, param_deltas, weight_delta_metrics


def test_rank_one_and_rank_three_deltas() -> None:
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(8, generator=g), torch.randn(5, generator=g)
    d1 = torch.outer(u, v)
    a, b = torch.randn(8, 3, generator=g), torch.randn(3, 5, generator=g)
    d3 = a @ b
    out = weight_delta_metrics(
        {"one": d1, "three": d3, "zero": torch.zeros(4, 4), "bias": torch.ones(9)}
    )
    assert out["one"]["rank"] == 1 and out["three"]["rank"] == 3 and out["zero"]["rank"] == 0
    assert out["one"]["fro_norm"] == pytest.approx(float(u.norm() * v.norm()), rel=1e-6)
    assert out["three"]["norm_per_numel"] == pytest.approx(float(d3.norm()) / 40, rel=1e-6)
    assert out["bias"] == {"fro_norm": 3.0, "norm_per_numel": 3.0 / 9, "rank": 1.0}


def test_rtol_controls_numerical_rank() -> None:
    d = torch.diag(torch.tensor([1.0, 1e-3, 1e-9]))
    assert weight_delta_metrics({"d": d})["d"]["rank"] == 2  # 1e-9 is below max(m, n) * eps(fp32)
    assert weight_delta_metrics({"d": d}, rtol=1e-2)["d"]["rank"] == 1


def test_param_deltas_only_changed() -> None:
    torch.manual_seed(0)
    a = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    b = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        b[1].weight[0, 0] += 2.0
    d = param_deltas(b, a)
    assert list(d) == ["1.weight"]
    assert float(d["1.weight"][0, 0]) == pytest.approx(2.0)
    assert float(d["1.weight"].abs().sum()) == pytest.approx(2.0)


def test_measure_cost_time_and_memory() -> None:
    size = 64 * 2**20
    with measure_cost() as cost:
        # Fresh anonymous pages (not heap memory malloc may already hold resident), all touched.
        buf = mmap.mmap(-1, size)
        x = np.frombuffer(buf, dtype=np.uint8)
        x[:: mmap.PAGESIZE] = 1
        time.sleep(0.05)
        del x
        buf.close()
    assert cost.wall_time_s >= 0.05
    assert cost.memory_increase_bytes >= 32 * 2**20
    assert cost.peak_memory_bytes >= cost.memory_increase_bytes
