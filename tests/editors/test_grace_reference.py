"""GRACE's defaults against the authors' ``grace.yaml`` (issue 21): a cold value by default,
and both token replacements of the authors' code, ``replace_last`` and ``replace_prompt``
(every position before the key token; the key token's own output kept)."""

from __future__ import annotations

import pytest
import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from behemoth.editors.grace import GraceConfig, GraceModel
from behemoth.model.hooks import hooked
from behemoth.scenarios.request import EditRequest

# GPT-NeoX's MLP returns its down-projection's output: a hook on the MLP sees that output after
# GRACE's hook on the down-projection has replaced it
MLP = "gpt_neox.layers.1.mlp"


@pytest.fixture(scope="module")
def base() -> GPTNeoXForCausalLM:
    cfg = GPTNeoXConfig(
        vocab_size=40,
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=32,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return GPTNeoXForCausalLM(cfg).eval()


def test_value_init_defaults_to_the_authors_cold() -> None:
    cfg = GraceConfig.from_dict({})
    assert cfg.value_init == "cold"
    assert cfg.replacement in ("replace_last", "replace_prompt")


def _wrapped_output(wrapper: GraceModel, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad(), hooked(wrapper.base, outputs=[MLP]) as rec:
        wrapper(input_ids=ids)
    return rec.outputs[MLP]


@pytest.mark.parametrize("replacement", ["replace_last", "replace_prompt"])
def test_replacement_writes_the_positions_the_authors_code_does(
    base: GPTNeoXForCausalLM, replacement: str
) -> None:
    cfg = GraceConfig(layer=1, steps=3, stop_loss=0.0, init_radius=1e-3, replacement=replacement)  # type: ignore[arg-type]
    prompt = (0, 3, 5, 7, 9)
    edited, logs = GraceModel.empty(base, cfg).edit(
        [EditRequest(prompt, 21, 0, (1, 2), 0, 0, 0, 0)]
    )
    assert logs[0].decision.action == "add"
    value = edited.codebook.values[0]
    hit = torch.tensor([prompt, (0, 4, 6, 8, 10)])  # the edit's prompt, and one out of range
    plain = _wrapped_output(GraceModel.empty(base, cfg), hit)
    out = _wrapped_output(edited, hit)
    last = len(prompt) - 1
    if replacement == "replace_last":
        torch.testing.assert_close(out[0, last], value)
        torch.testing.assert_close(out[0, :last], plain[0, :last])
    else:  # the authors' layer_out[:, :token_to_edit] = value
        torch.testing.assert_close(out[0, :last], value.expand(last, -1))
        torch.testing.assert_close(out[0, last], plain[0, last])
    torch.testing.assert_close(out[1], plain[1])  # a miss is the base model's output
