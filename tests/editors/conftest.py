"""Fixtures of the editor tests: the ``tiny`` model trained on the ``tiny`` world, and requests.

Editors are checked on real, learned facts rather than random weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from behemoth.editors import Editor, build_editor
from behemoth.editors.context import EditContext
from behemoth.model import load_model
from behemoth.model.scoring import probe_accuracy
from behemoth.scenarios.request import EditRequest
from behemoth.world import World
from behemoth.world.vocab import SS


@pytest.fixture(scope="session")
def edit_model(tiny_model: Path, tiny_world: World) -> torch.nn.Module:
    """The shared ``tiny`` model (4 layers, width 64), loaded once; tests must not change it."""
    model, _ = load_model(tiny_model, tiny_world)
    assert probe_accuracy(model, tiny_world.probes["sro"]) >= 0.95
    return model


def make_request(world: World, i: int, shift: int = 1) -> EditRequest:
    """Edit ``sro`` probe ``i`` to the object ``shift`` places further in its relation."""
    p = world.probes["sro"]
    prompt = tuple(int(t) for t in p.prompt(i))
    s, r, o = int(p.subject[i]), int(p.relation[i]), int(p.object[i])
    new = (o + shift) % world.config.objects
    start = prompt.index(SS) + 1
    return EditRequest(
        prompt=prompt,
        target_new=int(world.vocab.object(r, new)),
        target_old=int(p.answer[i]),
        subject_span=(start, start + world.vocab.subject_tokens),
        subject=s,
        relation=r,
        old_object=o,
        new_object=new,
    )


def make_requests(world: World, n: int, seed: int = 0) -> list[EditRequest]:
    """``n`` edits of distinct subjects, chosen with a seeded generator."""
    p = world.probes["sro"]
    rng = np.random.default_rng(seed)
    subjects = rng.choice(world.config.subjects, size=n, replace=False)
    rows = [
        int(np.flatnonzero(p.subject == s)[int(rng.integers(world.config.relations))])
        for s in subjects
    ]
    return [
        make_request(world, i, shift=1 + int(rng.integers(world.config.objects - 1))) for i in rows
    ]


#: Test-speed settings (fewer corpus tokens for the statistics); everything else is the default.
FAST: dict[str, dict[str, Any]] = {
    "rome": {"mom2_n_tokens": 20_000},
    "memit": {"mom2_n_tokens": 20_000},
    "alphaedit": {"mom2_n_tokens": 20_000},
    "serac": {"train": {"steps": 150}},
}
N_SINGLE = 3  # single edits per editor for efficacy / specificity


def make_editor(
    name: str, model: torch.nn.Module, world: World, stats_dir: Path, **extra: Any
) -> Editor:
    """Editor ``name`` with the test-speed settings, prepared on ``model`` with the cache root
    ``stats_dir`` (pass ``EditContext(world, cache=stats_dir)`` to its ``apply``)."""
    editor = build_editor(name, {**FAST.get(name, {}), **extra})
    editor.prepare(model, EditContext(world, cache=stats_dir))
    return editor


@pytest.fixture(scope="session")
def stats_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The editors' cache root of the session (statistics under ``stats/``)."""
    return tmp_path_factory.mktemp("editor-stats")


class SingleEdits:
    """Per editor, computed on first use only (so ``-k rome`` pays for ROME alone): N_SINGLE
    single edits, each on the original model, their results, and whether the input survived."""

    def __init__(self, model: torch.nn.Module, world: World, stats_dir: Path) -> None:
        self.model, self.world, self.stats_dir = model, world, stats_dir
        self.cache: dict[str, dict[str, Any]] = {}

    def __call__(self, name: str) -> dict[str, Any]:
        if name not in self.cache:
            before = {k: v.clone() for k, v in self.model.state_dict().items()}
            requests = make_requests(self.world, N_SINGLE, seed=1)
            editor = make_editor(name, self.model, self.world, self.stats_dir)
            ctx = EditContext(self.world, cache=self.stats_dir)
            results = [editor.apply(self.model, [r], ctx.fresh()) for r in requests]
            unchanged = all(torch.equal(before[k], v) for k, v in self.model.state_dict().items())
            self.cache[name] = {
                "editor": editor,
                "results": results,
                "requests": requests,
                "input_unchanged": unchanged,
            }
        return self.cache[name]


@pytest.fixture(scope="session")
def single_edits(edit_model: torch.nn.Module, tiny_world: World, stats_dir: Path) -> SingleEdits:
    return SingleEdits(edit_model, tiny_world, stats_dir)


# Known defects, measured on the tiny model: kept visible as expected failures until fixed, never
# silently skipped. ``test_id -> reason``; none at present.
KNOWN_FAILURES: dict[str, str] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        reason = KNOWN_FAILURES.get(item.name)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=False))
