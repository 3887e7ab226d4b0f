"""Causal tracing per module (Meng et al. 2022, Fig. 1 b/c): restoring only the MLP output or
only the attention output of a layer at a token; ``behemoth trace --kind attention``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from behemoth.analysis.tracing import causal_trace
from behemoth.cli.main import main
from tests.editors.tiny_archs import tiny_model as random_model


def _trace(kind: str) -> object:
    model = random_model("gpt_neox", 40)
    rng = np.random.default_rng(1)
    prompts = rng.integers(0, 40, size=(2, 7))
    prompts[:, 2:4] = [[5, 6], [7, 8]]  # the "subject" span 2..4
    return causal_trace(
        model, prompts, np.array([3, 9]), (2, 4), kind=kind, samples=3, noise_std=1.0
    )


@pytest.mark.parametrize("kind", ["hidden", "mlp", "attn"])
def test_restoring_before_the_subject_changes_nothing(kind: str) -> None:
    res = _trace(kind)
    # tokens before the corrupted span see no noise: their clean state is their corrupted one
    assert np.allclose(res.effect[:2], 0.0, atol=1e-6)
    assert res.effect.shape == (7, 2) and res.kind == kind


def test_module_outputs_are_patched_separately() -> None:
    hidden, mlp, attn = _trace("hidden"), _trace("mlp"), _trace("attn")
    # the whole residual stream of the last layer at the last token gives the clean output
    assert hidden.restored[-1, -1] == pytest.approx(hidden.clean, rel=1e-5)
    assert hidden.corrupted == pytest.approx(mlp.corrupted) == pytest.approx(attn.corrupted)
    # one module's output is only part of it: each kind restores something else
    assert not np.allclose(mlp.restored[2:], hidden.restored[2:])
    assert not np.allclose(attn.restored[2:], mlp.restored[2:])


@pytest.mark.slow
def test_trace_cli_accepts_attention(tiny_model: Path, tmp_path: Path) -> None:
    runs = {}
    for kind in ("attention", "attn"):
        out = tmp_path / kind
        argv = ["trace", str(tiny_model), "--facts", "2", "--samples", "2", "--kind", kind]
        assert main([*argv, "--out", str(out)]) == 0
        runs[kind] = json.loads((out / "trace.json").read_text())
    assert runs["attention"]["kind"] == "attn" and runs["attention"] == runs["attn"]
