"""The retain oracle's plan (no training): replicates and the cache key (issue 21)."""

from __future__ import annotations

import numpy as np

from behemoth.model import model_preset, resolve_run
from behemoth.model.retain_oracle import EXPOSURE, oracle_plan
from behemoth.world import World
from behemoth.world.exclude import exclusion_mask


def _meta() -> dict[str, object]:
    cfg = resolve_run(model_preset("tiny"))
    return {"config": cfg.to_dict(), "result": {"steps": 123}}


def test_replicate_oracles_differ_in_init_and_order_only(tiny_world: World) -> None:
    mask = exclusion_mask(tiny_world.graph, np.array([1, 5, 9]))
    c0, s0, k0 = oracle_plan(_meta(), tiny_world, mask)
    c1, s1, k1 = oracle_plan(_meta(), tiny_world, mask, replicate=1)
    base = resolve_run(model_preset("tiny"))
    assert s0 == s1 == 123  # the original's budget, for every replicate
    assert (c0.seed, c0.data_seed) == (base.seed, base.data_seed)
    assert (c1.seed, c1.data_seed) == (base.seed + 1, base.data_seed + 1)
    assert c0.train.target_accuracy is None and c0.train.data == "stream"
    assert k0 != k1 and len({k0, k1}) == 2
    assert oracle_plan(_meta(), tiny_world, mask, replicate=1)[2] == k1  # a stable key
    d0, d1 = c0.to_dict(), c1.to_dict()
    for d in (d0, d1):
        d.pop("seed"), d.pop("data_seed")
    assert d0 == d1
    assert EXPOSURE == "padded"
