"""One conformance suite over every registered editor (the PEFT pattern: a new editor that
registers itself is picked up here with no change).

Checked for each: the input model is bit-for-bit unchanged; single edits take (efficacy >= 0.9)
and leave the other subjects' facts mostly intact; the same seed gives the same deltas;
applying then removing the deltas restores a model exactly, and applying them to the original
reproduces the edited model; the config round-trips through YAML.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from behemoth.editors import (
    EditResult,
    apply_deltas,
    build_editor,
    editor_class,
    editor_config,
    editor_names,
    remove_deltas,
)
from behemoth.errors import ConfigError
from behemoth.evaluation.scoring import score
from behemoth.world import World
from tests.editors.conftest import make_editor


@pytest.mark.parametrize("name", editor_names())
def test_input_model_unchanged(name: str, single_edits: dict[str, Any]) -> None:
    assert single_edits[name]["input_unchanged"]


@pytest.mark.parametrize("name", editor_names())
def test_single_edit_efficacy_and_specificity(
    name: str, single_edits: dict[str, Any], edit_model: torch.nn.Module, tiny_world: World
) -> None:
    probes = tiny_world.probes["sro"]
    base = score(edit_model, probes).correct(probes.answer)
    eff, spec = [], []
    for res, req in zip(single_edits[name]["results"], single_edits[name]["requests"]):
        pred = score(res.model, [np.asarray(req.prompt)]).pred[0]
        if getattr(editor_class(name), "unlearns", False):  # unlearning: the old answer is gone
            eff.append(pred != req.target_old)
        else:
            eff.append(pred == req.target_new)
        other = (probes.subject != req.subject) & base  # known facts of other subjects
        after = score(res.model, probes).correct(probes.answer)
        spec.append(after[other].mean())
    assert np.mean(eff) >= 0.9, f"{name}: efficacy {np.mean(eff):.2f}"
    assert np.mean(spec) >= 0.9, f"{name}: other subjects' facts kept {np.mean(spec):.3f}"


@pytest.mark.parametrize("name", editor_names())
def test_same_seed_same_deltas(
    name: str,
    single_edits: dict[str, Any],
    edit_model: torch.nn.Module,
    tiny_world: World,
    stats_dir: Path,
) -> None:
    first: EditResult = single_edits[name]["results"][0]
    again = make_editor(name, edit_model, tiny_world, stats_dir).apply(
        edit_model, [single_edits[name]["requests"][0]]
    )
    assert first.deltas.keys() == again.deltas.keys() and first.deltas
    for k in first.deltas:
        assert torch.equal(first.deltas[k], again.deltas[k]), k


@pytest.mark.parametrize("name", editor_names())
def test_deltas_apply_and_remove_exactly(
    name: str, single_edits: dict[str, Any], edit_model: torch.nn.Module
) -> None:
    res: EditResult = single_edits[name]["results"][0]
    model = copy.deepcopy(edit_model)
    original = {k: v.clone() for k, v in model.state_dict().items()}
    apply_deltas(model, res.deltas)
    edited = dict(res.model.named_parameters())
    for k, p in model.named_parameters():
        if res.adapter is None:  # a merged model: the deltas reproduce it exactly
            assert torch.equal(p, edited[k]), k
        elif k not in res.deltas:
            assert torch.equal(p, original[k]), k
    remove_deltas(model, res.deltas)
    for k, v in model.state_dict().items():
        assert torch.equal(v, original[k]), k


@pytest.mark.parametrize("name", editor_names())
def test_config_roundtrips_through_yaml(name: str, tmp_path: Path) -> None:
    cfg = editor_config(name, {"seed": 7})
    text = cfg.to_yaml()
    assert type(cfg).from_dict(yaml.safe_load(text)) == cfg
    path = tmp_path / "editor.yaml"
    path.write_text(text)
    assert editor_config(name, config_file=path) == cfg
    with pytest.raises(ConfigError, match="unknown key"):
        editor_config(name, {"no_such_setting": 1})


def test_registry_suggests_close_names() -> None:
    assert {"ft", "lora", "rome", "memit", "alphaedit"} <= set(editor_names())
    with pytest.raises(ConfigError, match="did you mean 'memit'"):
        build_editor("memitt")
