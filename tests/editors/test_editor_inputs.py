"""No editor-internal prompt comes from a test set: every registered editor x every registered
scenario (issue 8). The prompt builders record what an editor uses besides its edit requests
(KL prompts, the statements inside context prefixes, replayed facts); the scenario's own check
must accept all of it. The old rules (the subject's other relations as KL prompts, corpus
documents as prefixes) are shown to be caught.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from behemoth.config import resolve
from behemoth.editors import build_editor, editor_class, editor_names
from behemoth.editors.context import EditContext
from behemoth.editors.prompts import (
    context_prefixes,
    document_prompts,
    kl_batch,
    recording_editor_inputs,
)
from behemoth.model import model_preset
from behemoth.model.build import build_model
from behemoth.model.config import RunConfig
from behemoth.scenarios import EditorInputLeak, build_scenario, check_editor_inputs
from behemoth.scenarios.scenario import Scenario, scenario_names
from behemoth.world import World
from tests.conftest import make_world
from tests.scenarios.test_editor_split import FIXTURES, SMALL

#: Few optimization steps and statistics tokens: what is checked is which prompts are built.
QUICK: dict[str, dict[str, Any]] = {
    "rome": {"v_steps": 2, "mom2_n_tokens": 5_000},
    "memit": {"v_steps": 2, "mom2_n_tokens": 5_000},
    "alphaedit": {"v_steps": 2, "mom2_n_tokens": 5_000},
    "ft": {"steps": 2},
    "lora": {"steps": 2},
    "serac": {"train": {"steps": 20}},  # its networks, trained in prepare, once per world
}


def _editor(name: str, model: torch.nn.Module, world: World, stats: Path) -> Any:
    data = dict(QUICK.get(name, {}))
    fields = editor_class(name).Config.model_fields
    data = {k: v for k, v in data.items() if k in fields}
    editor = build_editor(name, data)
    editor.prepare(model, EditContext(world, cache=stats))
    return editor


@pytest.fixture(scope="module")
def nested_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("nested"), nested_objects=4)


def _untrained(world: World) -> torch.nn.Module:
    """Which prompts an editor builds does not depend on what the weights know: worlds without
    a trained fixture model get a freshly initialized one of the ``tiny`` shape."""
    cfg = resolve(RunConfig, model_preset("tiny"))
    return build_model(cfg.model, world.vocab.size, seed=0).eval()


def _scenario(name: str, tiny: World, nested: World, tmp: Path) -> tuple[Scenario, World]:
    world = nested if name in ("nested-ono", "forget-nested") else tiny
    settings = SMALL.get(name, {})
    if name == "from-reference":  # a reference fine-tuning folder on its own imported world
        from behemoth.world.reference import import_reference

        world = import_reference(FIXTURES / "twotoken", tmp / "w")
        settings = {
            "path": str(FIXTURES / "twotoken_ft" / "ftremapping_2overrides_250overriderepeats")
        }
    return build_scenario(world, name, settings), world


@pytest.mark.slow
@pytest.mark.parametrize("editor_name", editor_names())
def test_no_editor_prompt_comes_from_a_test_set(
    editor_name: str,
    edit_model: torch.nn.Module,
    tiny_world: World,
    nested_world: World,
    stats_dir: Path,
    tmp_path: Path,
) -> None:
    editors: dict[str, tuple[Any, torch.nn.Module]] = {}
    for name in scenario_names():
        sc, world = _scenario(name, tiny_world, nested_world, tmp_path)
        if world.fingerprint not in editors:
            model = edit_model if world is tiny_world else _untrained(world)
            editors[world.fingerprint] = (_editor(editor_name, model, world, stats_dir), model)
        editor, model = editors[world.fingerprint]
        batch = [sc.requests[j] for j in sc.batches[0]]
        with recording_editor_inputs() as rec:
            editor.apply(model, batch, EditContext.for_scenario(world, sc, cache=stats_dir))
        kinds = {k for k, _ in rec}
        if editor_name in ("ft", "lora"):
            assert "replay" in kinds, name  # they rehearse, so there is something to check
        check_editor_inputs(sc, _inputs(rec))


def _inputs(rec: list[tuple[str, tuple[int, ...]]]) -> list[Any]:
    """Recorded inputs as check_editor_inputs reads them: facts as (subject, relation), prompts
    as token arrays."""
    return [p if kind == "fact" else np.array(p) for kind, p in rec]


def _sc(tiny_world: World) -> Scenario:
    return build_scenario(tiny_world, "k-different", {"k": 4})


def test_kl_prompts_come_from_editor_facts(tiny_world: World) -> None:
    sc = _sc(tiny_world)
    with recording_editor_inputs() as rec:
        batch = kl_batch(sc.requests, "prompt_last", tiny_world, "other_relations", sc.editor_facts)
    assert batch is not None and len(batch) == len(rec) > 0
    check_editor_inputs(sc, _inputs(rec))
    with recording_editor_inputs() as old:  # the old rule: every other relation of the subject
        kl_batch(sc.requests, "prompt_last", tiny_world, "other_relations", None)
    with pytest.raises(EditorInputLeak, match="specificity/same_subject"):
        check_editor_inputs(sc, _inputs(old))


def test_prefixes_are_editor_fact_documents(tiny_world: World) -> None:
    sc = _sc(tiny_world)
    with recording_editor_inputs() as rec:
        prefixes = context_prefixes(tiny_world, 10, [5, 10], 0, sc.editor_facts)
    assert [len(p) for p in prefixes] == [5, 10] * 5
    assert all(p[-1] == 0 for p in prefixes)  # each ends with end of text
    assert rec and {k for k, _ in rec} == {"fact"}  # every fact a prefix shows part of
    check_editor_inputs(sc, _inputs(rec))
    ef = sc.editor_facts.probes
    allowed = {(int(s), int(r)) for s, r in zip(ef.subject, ef.relation)}
    assert {p for _, p in rec} <= allowed
    with recording_editor_inputs() as old:  # the old source: the corpus, which tests use
        context_prefixes(tiny_world, 40, [10, 20], 0, None)
    with pytest.raises(EditorInputLeak):
        check_editor_inputs(sc, _inputs(old))


def test_document_prompts_reads_whole_statements_only() -> None:
    # EOT s ... o DOT EOT: the prompt is EOT + sentence without its object
    toks = [7, 2, 0, 3, 11, 4, 12, 5, 13, 2, 0, 3, 14]
    assert document_prompts(toks) == [(0, 3, 11, 4, 12, 5)]
