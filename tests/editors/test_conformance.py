"""One conformance suite over every registered editor (the PEFT pattern: a new editor that
registers itself is picked up here with no change). Tests are parametrized by editor name, and
each editor's edits are computed when its first test runs: ``-k rome`` runs ROME alone.

Checked for each (tests/editors/conformance.py): the contract of its kind; single edits take
(efficacy >= 0.9) and leave the other subjects' facts mostly intact; the config round-trips
through YAML.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from behemoth.editors import EDITORS, build_editor, editor_class, editor_config, editor_names
from behemoth.editors.context import EditContext
from behemoth.errors import ConfigError
from behemoth.model.scoring import score
from behemoth.registry import UnknownNameError
from behemoth.world import World
from tests.editors.conformance import check_conformance
from tests.editors.conftest import SingleEdits

NAMES = editor_names()


@pytest.mark.parametrize("name", NAMES)
def test_input_model_unchanged(name: str, single_edits: SingleEdits) -> None:
    assert single_edits(name)["input_unchanged"]


@pytest.mark.parametrize("name", NAMES)
def test_contract_of_its_kind(
    name: str,
    single_edits: SingleEdits,
    edit_model: torch.nn.Module,
    tiny_world: World,
    stats_dir: Path,
    tmp_path: Path,
) -> None:
    runs = single_edits(name)
    first = runs["results"][0]
    ctx = EditContext(tiny_world, cache=stats_dir)
    check_conformance(
        runs["editor"], edit_model, runs["requests"][:1], tmp_path, first, context=ctx
    )


@pytest.mark.parametrize("name", NAMES)
def test_single_edit_efficacy_and_specificity(
    name: str, single_edits: SingleEdits, edit_model: torch.nn.Module, tiny_world: World
) -> None:
    probes = tiny_world.probes["sro"]
    base = score(edit_model, probes).correct(probes.answer)
    eff, spec = [], []
    runs = single_edits(name)
    for res, req in zip(runs["results"], runs["requests"]):
        pred = score(res.model, [np.asarray(req.prompt)]).pred[0]
        if getattr(editor_class(name), "unlearns", False):  # unlearning: the old answer is gone
            eff.append(pred != req.target_old)
        else:
            eff.append(pred == req.target_new)
        other = (probes.subject != req.subject) & base  # known facts of other subjects
        after = score(res.model, probes).correct(probes.answer)
        spec.append(after[other].mean())
    assert np.mean(eff) >= 0.9, f"{name}: efficacy {np.mean(eff):.2f}"
    # Gradient ascent alone (no retain term) on one fact runs its whole step budget: one fact
    # leaves nothing to hold apart for the stopping rule (editors/unlearning/trainer.py), and
    # ascent takes other facts with it (0.75 measured here; the studies' lowest utility too).
    floor = 0.7 if name == "ga" else 0.9
    assert np.mean(spec) >= floor, f"{name}: other subjects' facts kept {np.mean(spec):.3f}"


@pytest.mark.parametrize("name", NAMES)
def test_config_roundtrips_through_yaml(name: str, tmp_path: Path) -> None:
    cfg = editor_config(name, {"seed": 7})
    text = cfg.to_yaml()
    assert type(cfg).from_dict(yaml.safe_load(text)) == cfg
    path = tmp_path / "editor.yaml"
    path.write_text(text)
    assert editor_config(name, config_file=path) == cfg
    with pytest.raises(ConfigError, match="unknown key"):
        editor_config(name, {"no_such_setting": 1})


def test_registry_finds_the_method_folders_and_suggests_close_names() -> None:
    assert {"ft", "lora", "rome", "memit", "alphaedit"} <= set(EDITORS)
    assert all(EDITORS[n].kind in ("weights", "wrapper") for n in EDITORS)
    with pytest.raises(UnknownNameError, match="did you mean 'memit'"):
        build_editor("memitt")
