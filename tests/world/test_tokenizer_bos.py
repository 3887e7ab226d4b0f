"""Plain transformers, default settings: the tokenizer's ids are the model's probe ids."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from behemoth.world.vocab import EOT
from tests.world.conftest import WorldFactory


@pytest.mark.parametrize(
    "over",
    [
        {"questions_frac": 0.2, "inversion_frac": 0.3},
        {"nested_objects": 5, "max_subject_words": 10},
        {"vocab": "reference", "questions_frac": 0.2},
    ],
    ids=["questions-inversions", "nested-two-token", "reference-vocab"],
)
def test_default_tokenizer_call_gives_every_probe_format(
    world_factory: WorldFactory, over: dict[str, object]
) -> None:
    world = world_factory(**over)
    tok = AutoTokenizer.from_pretrained(str(world.path))
    assert tok.bos_token_id == EOT
    for p in world.probes.values():
        for i in (0, len(p) - 1):
            prompt = p.prompt(i).tolist()
            assert prompt[0] == EOT
            text = world.vocab.decode(prompt[1:])
            assert tok(text)["input_ids"] == prompt, p.name
            assert tok(text, add_special_tokens=False)["input_ids"] == prompt[1:]
