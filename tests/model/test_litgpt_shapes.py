"""Issue 24: convert-litgpt checks the weights' shapes against model_config.yaml before it
builds the config's model (a huge config beside small weights is refused at once)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
import torch

from behemoth.errors import BehemothError
from behemoth.model.litgpt import litgpt_to_model, model_to_litgpt
from tests.model.test_litgpt import _tiny_hf


def test_huge_config_beside_small_weights_is_refused_before_building(tmp_path: Path) -> None:
    lit, state = model_to_litgpt(_tiny_hf(), None, "x")
    # 8 layers of width 8192: ~6.7 billion parameters (~27 GB in float32) if it were built
    huge = {**lit, "n_embd": 8192, "n_layer": 8, "intermediate_size": 32768}
    huge["head_size"] = 8192 // lit["n_head"]
    (tmp_path / "model_config.yaml").write_text("\n".join(f"{k}: {v}" for k, v in huge.items()))
    torch.save(state, tmp_path / "lit_model.pth")
    tracemalloc.start()
    try:
        with pytest.raises(BehemothError, match=r"^CHECKPOINT: .* (lacks|has shape)"):
            litgpt_to_model(tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200_000_000
