"""SERAC trained without the generalization formats (issue 21): with ``formats: [<the edit's
template>]`` no training pair, edit or query, is rendered in a format the scenario's
generalization split tests; by default (the paper's paraphrase training) they all are."""

from __future__ import annotations

import numpy as np
import pytest

from behemoth.editors.serac.config import SeracNetsConfig
from behemoth.editors.serac.pairs import PairSampler, query_formats, training_formats
from behemoth.editors.serac.train import scenario_training_facts, train_nets
from behemoth.errors import ConfigError
from behemoth.scenarios.render import edge_prompts
from behemoth.scenarios.scenario import Scenario, build_scenario
from behemoth.world import World


@pytest.fixture(scope="module")
def stream(tiny_world: World) -> Scenario:
    return build_scenario(tiny_world, "stream", {"n": 30})


def _generalization_formats(stream: Scenario, world: World) -> set[str]:
    """Formats of the prompts of the scenario's generalization splits (question_new is the
    question format)."""
    names = {t.split("/", 1)[-1] for t in stream.tests if t.startswith("generalization")}
    return {"question" if n == "question_new" else n for n in names} & set(query_formats(world))


def _rendered(world: World, facts: np.ndarray, fmt: str) -> set[tuple[int, ...]]:
    s, r = facts[:, 0], facts[:, 1]
    p = edge_prompts(world, fmt, "S-O", s, r, world.graph.objects[s, r])
    return {tuple(int(t) for t in p.prompt(i)) for i in range(len(p))}


def test_edit_format_only_pairs_contain_no_generalization_format(
    tiny_world: World, stream: Scenario
) -> None:
    edit_template = stream.requests[0].template
    assert {q.template for q in stream.requests} == {edit_template}
    gen = _generalization_formats(stream, tiny_world)
    assert gen and edit_template not in gen
    facts = scenario_training_facts(stream)
    seen: set[tuple[int, ...]] = set()
    for formats in ([edit_template], None):
        sampler = PairSampler(tiny_world, facts, np.random.default_rng(0), 0, 0.0, formats)
        b = sampler.sample(200)
        rows = [*zip(b.edits, b.edits_pad), *zip(b.queries, b.queries_pad)]
        seqs = {tuple(int(t) for t in ids[~pad]) for ids, pad in rows}
        forbidden = set().union(*(_rendered(tiny_world, facts, f) for f in gen))
        if formats is not None:
            assert sampler.formats == [edit_template]
            assert not seqs & forbidden  # not one generalization-format prompt
            assert seqs <= _rendered(tiny_world, facts, edit_template)
            seen = seqs
        else:  # the paper's setting trains on the generalization formats themselves
            assert seqs & forbidden
    assert seen


def test_formats_are_checked(tiny_world: World) -> None:
    with pytest.raises(ConfigError, match="formats"):
        training_formats(tiny_world, ["no-such-format"])
    with pytest.raises(ConfigError, match="formats"):
        training_formats(tiny_world, [])
    assert training_formats(tiny_world, None) == query_formats(tiny_world)


def test_networks_record_their_formats(tiny_world: World, stream: Scenario) -> None:
    edit_template = stream.requests[0].template
    cfg = SeracNetsConfig.from_dict(
        {"width": 16, "embed_dim": 8, "scratch_rows": 16, "steps": 1, "formats": [edit_template]}
    )
    nets = train_nets(tiny_world, scenario_training_facts(stream), cfg, progress=False)
    assert nets.config.formats == [edit_template]
