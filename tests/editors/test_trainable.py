"""``trainable``: only the tuned parameters take gradients inside; every flag comes back after,
also when training raises."""

from __future__ import annotations

import pytest
import torch

from behemoth.editors.gradient.trainer import trainable


def _model() -> torch.nn.Module:
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 2))
    model[0].bias.requires_grad_(False)  # a flag that is not the default must come back too
    return model


def _flags(model: torch.nn.Module) -> dict[str, bool]:
    return {n: p.requires_grad for n, p in model.named_parameters()}


def test_only_the_given_parameters_are_trainable_inside() -> None:
    model = _model()
    before = _flags(model)
    with trainable(model, [model[0].bias, model[1].weight]):
        assert _flags(model) == {
            "0.weight": False,
            "0.bias": True,
            "1.weight": True,
            "1.bias": False,
        }
    assert _flags(model) == before


def test_flags_come_back_when_the_block_raises() -> None:
    model = _model()
    before = _flags(model)
    with pytest.raises(RuntimeError, match="diverged"), trainable(model, [model[1].bias]):
        raise RuntimeError("diverged")
    assert _flags(model) == before
