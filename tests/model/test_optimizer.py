"""The optimizer's parameter groups: the input embedding's own learning rate
(``train.embedding_lr_scale``) follows the schedule at its multiple of the peak rate."""

from __future__ import annotations

import pytest
import torch

from behemoth.model import build_model, model_preset, resolve_run
from behemoth.model.train import lr_factor, make_optimizer


def _optimizer(scale: float) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    cfg = resolve_run(
        model_preset("tiny"),
        None,
        [f"train.embedding_lr_scale={scale}", "train.lr=1e-2", "train.weight_decay=0.1"],
    )
    model = build_model(cfg.model, 50, cfg.seed)
    return model, make_optimizer(model, cfg)


def _group_of(opt: torch.optim.Optimizer, p: torch.Tensor) -> dict:
    (g,) = [g for g in opt.param_groups if any(q is p for q in g["params"])]
    return g


def test_embedding_scale_one_keeps_the_two_groups() -> None:
    model, opt = _optimizer(1.0)
    assert len(opt.param_groups) == 2  # checkpoints written before the option still resume
    g = _group_of(opt, model.get_input_embeddings().weight)
    assert g["lr"] == pytest.approx(1e-2) and g["weight_decay"] == pytest.approx(0.1)


def test_embedding_scale_sets_its_rate_through_the_schedule() -> None:
    model, opt = _optimizer(4.0)
    embed = model.get_input_embeddings().weight
    params = [p for g in opt.param_groups for p in g["params"]]
    assert len(params) == len(list(model.parameters()))  # every parameter exactly once
    assert len({id(p) for p in params}) == len(params)
    g = _group_of(opt, embed)
    assert g["params"] == [embed] and g["weight_decay"] == pytest.approx(0.1)
    head = _group_of(opt, model.get_output_embeddings().weight)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, 2, 10, 0.1))
    for step in range(5):
        factor = lr_factor(step, 2, 10, 0.1)
        assert g["lr"] == pytest.approx(4e-2 * factor)
        assert head["lr"] == pytest.approx(1e-2 * factor)
        opt.step()
        sched.step()
