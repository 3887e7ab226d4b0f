"""``behemoth.edit``: one fact edited with strings in the world's words (behemoth.api)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from behemoth.api import parse_fact
from behemoth.errors import ConfigError
from behemoth.world import World


def _prompt(world: World, name: str, row: int) -> tuple[str, int, int]:
    p = world.probes[name]
    return world.vocab.decode(p.prompt(row)[1:]), int(p.subject[row]), int(p.relation[row])


@pytest.mark.parametrize("name", ["sro", "question_new"])
def test_prompt_is_parsed_by_the_worlds_templates(tiny_world: World, name: str) -> None:
    text, s, r = _prompt(tiny_world, name, 5)
    old = int(tiny_world.graph.objects[s, r])
    new = (old + 1) % tiny_world.config.objects
    fact = parse_fact(tiny_world, text, f"o{r}_{new}")
    assert (fact.subject, fact.relation, fact.old_object, fact.new_object) == (s, r, old, new)
    assert fact.template == tiny_world.probes[name].template
    assert parse_fact(tiny_world, "<|endoftext|> " + text, f"o{r}_{new}") == fact


def test_bad_prompts_and_targets_are_one_line_errors(tiny_world: World) -> None:
    text, s, r = _prompt(tiny_world, "sro", 0)
    old = int(tiny_world.graph.objects[s, r])
    words = text.split()
    swapped = " ".join([words[0], words[1], words[3], words[2], *words[4:]])
    cases = [
        (swapped, f"o{r}_{(old + 1) % 20}", "prompt: .* matches no template .* e.g. 'SS "),
        ("SS nope", "o0_1", "prompt: 'nope' is not a word of this world"),
        (text, f"o{r + 1}_1", f"target: .* is not an object of relation {r}"),
        (text, f"o{r}_{old}", "target: .* is already the answer"),
        (text, "zz", "target: 'zz' is not a word"),
    ]
    for prompt, target, pattern in cases:
        with pytest.raises(ConfigError, match=pattern) as e:
            parse_fact(tiny_world, prompt, target)
        assert "\n" not in str(e.value)


def test_import_behemoth_stays_light() -> None:
    code = (
        "import sys, behemoth; a = 'behemoth.api' in sys.modules; f = behemoth.edit; "
        "print(a, 'behemoth.api' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "False"]  # loaded on first use, no torch


@pytest.mark.slow  # needs the trained tiny model (session fixture, ~1 min)
def test_edit_with_strings_gives_the_edited_model_and_a_headline(
    tiny_model: Path, tiny_world: World
) -> None:
    import torch

    import behemoth
    from behemoth.model import load_model

    text, s, r = _prompt(tiny_world, "sro", 7)
    old = int(tiny_world.graph.objects[s, r])
    target = f"o{r}_{(old + 1) % tiny_world.config.objects}"
    model = load_model(tiny_model, tiny_world)[0]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = behemoth.edit(model, prompt=text, target=target, editor="rome", world=tiny_world)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    names = {h.name for h in out.headline}
    assert {"efficacy", "generalization", "specificity", "locality"} <= names
    eff = next(h for h in out.headline if h.name == "efficacy")
    assert (eff.pre, eff.post, eff.n) == (0.0, 1.0, 1)
    ids = torch.tensor([tiny_world.probes["sro"].prompt(7)])
    new_id = tiny_world.vocab.words.index(target)
    assert int(out.model(input_ids=ids).logits[0, -1].argmax()) == new_id
    assert "efficacy" in out.headline_text() and target in out.headline_text()
    again = behemoth.edit(str(tiny_model), prompt=text, target=target, editor="rome")
    assert [(h.name, h.split, h.post) for h in again.headline] == [
        (h.name, h.split, h.post) for h in out.headline
    ]
