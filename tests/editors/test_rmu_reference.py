"""RMU follows WMDP's code where behemoth differed (issue 21): the steered activation is the
block's output (also for the last block, where ``hidden_states[l + 1]`` is after the final layer
norm), only the MLP down-projections of blocks l-2..l are trained, and the steering coefficient
is beta times the frozen model's measured activation norm (adaptive RMU)."""

from __future__ import annotations

import pytest
import torch

from behemoth.editors import build_editor
from behemoth.editors.prompts import build_batch
from behemoth.editors.rmu import RmuConfig, RmuTrainer
from behemoth.model.hooks import hooked
from behemoth.world import World
from tests.editors.conftest import make_requests
from tests.editors.tiny_archs import LAYERS, tiny_model


def _trainer(world: World, model: torch.nn.Module, **settings: object) -> RmuTrainer:
    cfg = RmuConfig.from_dict({"retain_weight": 0.0, **settings})
    trainer = RmuTrainer(cfg, world, None)
    trainer.setup(model)
    return trainer


def _batch(world: World):  # type: ignore[no-untyped-def]
    reqs = make_requests(world, 3, seed=1)
    return build_batch(
        [r.prompt for r in reqs],
        [len(r.prompt) - 1 for r in reqs],
        [r.target_old for r in reqs],
        list(range(len(reqs))),
    )


@pytest.mark.parametrize("arch", ["gpt_neox", "llama"])
def test_last_layer_activation_is_the_block_output(arch: str, tiny_world: World) -> None:
    model = tiny_model(arch, tiny_world.vocab_size)
    last = LAYERS - 1
    trainer = _trainer(tiny_world, model, layer=last)
    batch = _batch(tiny_world)
    block = trainer.block
    with torch.no_grad(), hooked(model, outputs=[block]) as rec:
        out = model(input_ids=batch.ids, output_hidden_states=True)
        got = trainer._hidden(model, batch)
    torch.testing.assert_close(got, rec.outputs[block].float())
    # hidden_states[last + 1] is after the final layer norm: another tensor altogether
    assert not torch.allclose(got, out.hidden_states[last + 1].float(), atol=1e-3)


@pytest.mark.parametrize("arch", ["gpt_neox", "gpt2", "llama"])
def test_only_down_projections_of_l_minus_2_to_l_are_trained(arch: str, tiny_world: World) -> None:
    model = tiny_model(arch, tiny_world.vocab_size)
    editor = build_editor("rmu", {"layer": 1})
    names = set(editor.tuned_parameters(model))
    paths = editor.paths(model)
    want = {
        n
        for i in (0, 1)
        for n, _ in model.get_submodule(paths.one("mlp_out", i)).named_parameters(
            prefix=paths.one("mlp_out", i)
        )
    }
    assert names == want, sorted(names ^ want)
    for i in (0, 1):  # the up-projections (and gates) are not trained
        for up in paths.at("mlp_in", i):
            assert not any(n.startswith(up + ".") for n in names)
    # ``layers`` picks the blocks, still their down-projections only
    only0 = set(build_editor("rmu", {"layers": [0]}).tuned_parameters(model))
    assert only0 and all(n.startswith(paths.one("mlp_out", 0) + ".") for n in only0)


def test_steering_coefficient_is_beta_times_the_frozen_activation_norm(tiny_world: World) -> None:
    model = tiny_model("gpt_neox", tiny_world.vocab_size)
    batch = _batch(tiny_world)
    trainer = _trainer(tiny_world, model, layer=1, steering_scale=3.0)
    control = trainer.control(model, batch)
    with torch.no_grad():
        h = trainer._hidden(model, batch)
    rows = torch.arange(len(batch))
    norm = float(h[rows, batch.answer_pos].norm(dim=-1).mean())  # answer positions (default)
    assert trainer.activation_norm == pytest.approx(norm, rel=1e-5)
    assert float(control.norm()) == pytest.approx(3.0 * norm, rel=1e-5)
    # measured once: a later call returns the same vector whatever the model became
    torch.testing.assert_close(trainer.control(None, batch), control)
    # the default beta puts the control vector beyond the activations, not inside them
    assert RmuConfig.from_dict({}).steering_scale >= 1.0
    assert RmuConfig.from_dict({}).steering_coeff is None


def test_fixed_steering_coefficient_is_kept(tiny_world: World) -> None:
    model = tiny_model("gpt_neox", tiny_world.vocab_size)
    trainer = _trainer(tiny_world, model, layer=1, steering_coeff=6.5)
    control = trainer.control(None, _batch(tiny_world))
    assert float(control.norm()) == pytest.approx(6.5, rel=1e-6)
    assert trainer.activation_norm is None
