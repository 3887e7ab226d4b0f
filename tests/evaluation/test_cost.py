"""Edit-cost measurements: the changed parameters of a model, time and memory of a block."""

from __future__ import annotations

import mmap
import time

import numpy as np
import pytest
import torch

from behemoth.evaluation.cost import measure_cost, param_deltas


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
