"""Scenarios that choose by exposure (issue 25): edited and tested facts from quantile bands."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from behemoth.errors import ConfigError
from behemoth.scenarios import Scenario, build_scenario, check_editor_inputs
from behemoth.scenarios.exposure import rank_band
from behemoth.world import World
from behemoth.world.exposure import fact_exposure
from tests.conftest import make_world

#: Banded scenarios and small settings for a 40-subject world.
BANDED: dict[str, dict[str, Any]] = {
    "single": {},
    "k-different": {"k": 3},
    "k-identical": {"k": 2},
    "stream": {"n": 6},
    "refusal": {"k": 3},
    "forget-relation": {},
    "forget-facts": {"k": 5, "held_out": 5},
    "forget-subjects": {"n": 3, "held_out": 3},
}
EDIT, TEST = [0.0, 0.1], [0.9, 1.0]
#: k-identical needs k facts sharing an old object in the band: the rarest tenth of a relation's
#: 40 facts (about 4 of 20 objects) seldom holds two, so it edits the rarer half.
EDIT_OF = {"k-identical": [0.0, 0.5]}


@pytest.fixture(scope="module")
def zipf_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("zipf"), subjects=40, exposure={"kind": "zipf"})


@pytest.fixture(scope="module")
def uniform_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("uniform"), subjects=40)


def _so(world: World) -> np.ndarray:
    g = world.graph
    return fact_exposure(world)[: g.n_subjects * g.n_relations]


def _in_band(world: World, band: list[float]) -> np.ndarray:
    """The band as the module docstring defines it, from ranks computed here: sort by
    (exposure, fact id) and take positions floor(lo n) .. floor(hi n) - 1."""
    e = _so(world)
    n = len(e)
    order = sorted(range(n), key=lambda f: (int(e[f]), f))
    out = np.zeros(n, dtype=bool)
    out[order[int(band[0] * n + 1e-9) : n if band[1] >= 1 else int(band[1] * n + 1e-9)]] = True
    return out


def _tested_facts(sc: Scenario, R: int) -> dict[str, np.ndarray]:
    """Flat S-O ids of the untouched facts each banded test set holds."""
    out = {}
    for name, t in sc.tests.items():
        p = t.probes
        if name == "forgetting/held_out" or (
            t.group == "specificity" and p.kind == "S-O" and len(p) and p.subject.min() >= 0
        ):
            out[name] = p.subject * R + p.relation
    return out


@pytest.mark.parametrize("name", sorted(BANDED))
def test_edited_and_tested_facts_lie_in_their_bands(zipf_world: World, name: str) -> None:
    w = zipf_world
    R = w.graph.n_relations
    e = _so(w)
    band = EDIT_OF.get(name, EDIT)
    sc = build_scenario(w, name, {**BANDED[name], "exposure": {"edit": band, "test": TEST}})
    edited = np.array([q.subject * R + q.relation for q in sc.requests])
    tested = _tested_facts(sc, R)
    assert len(edited) and tested  # something edited and something tested
    if name == "forget-subjects":  # whole subjects, ranked by their facts' total exposure
        total = e.reshape(-1, R).sum(axis=1)
        subjects = {q.subject for q in sc.requests}
        assert all(rank_band(total, (0.0, 0.1))[s] for s in subjects)
        held = np.unique(sc.tests["forgetting/held_out"].probes.subject)
        assert rank_band(total, (0.9, 1.0))[held].all()
        assert total[list(subjects)].max() < total[held].min()
        tested.pop("forgetting/held_out")
    else:
        assert _in_band(w, band)[edited].all()
    for split, flat in tested.items():
        assert _in_band(w, TEST)[flat].all(), split
    everything_tested = np.concatenate(list(tested.values()))
    if name != "forget-subjects":
        assert e[edited].max() < e[everything_tested].min()
    # the prompts an editor sees never come from a measured test fact
    check_editor_inputs(sc, sc.editor_facts)
    check_editor_inputs(sc, sc.retain)


def test_a_test_band_keeps_a_subset_of_the_unbanded_tests(zipf_world: World) -> None:
    """The training inputs are drawn as without a band; each banded split is the unbanded
    split's facts that lie in the band (so [0, 1] changes nothing)."""
    R = zipf_world.graph.n_relations
    plain = build_scenario(zipf_world, "k-different", {"k": 3})
    whole = build_scenario(zipf_world, "k-different", {"k": 3, "exposure": {"test": [0, 1]}})
    assert _digest(whole, config=False) == _digest(plain, config=False)
    top = build_scenario(zipf_world, "k-different", {"k": 3, "exposure": {"test": TEST}})
    assert _digest(top.retain) == _digest(plain.retain)
    band = _in_band(zipf_world, TEST)
    for split, flat in _tested_facts(plain, R).items():
        want = set(flat[band[flat]].tolist())
        got = top.tests.get(split)
        facts = (
            set() if got is None else set((got.probes.subject * R + got.probes.relation).tolist())
        )
        assert facts == want, split


def _digest(x: Scenario | Any, config: bool = True) -> str:
    """A hash of a scenario's requests, batches and every test, retain and editor set."""
    h = hashlib.sha256()
    if isinstance(x, Scenario):
        if config:
            h.update(json.dumps(x.config, sort_keys=True).encode())
        for q in x.requests:
            h.update(repr(q).encode())
        sets = {**x.tests, "retain": x.retain, "editor": x.editor_facts}
    else:
        sets = {"set": x}
    for k in sorted(sets):
        t, p = sets[k], sets[k].probes
        h.update(k.encode())
        for a in (p.subject, p.relation, p.object, p.answer, p.tokens, p.offsets, t.other, t.edit):
            h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
    if isinstance(x, Scenario):
        h.update(repr(x.batches).encode())
    return h.hexdigest()[:16]


#: Each scenario without a band as the code built it before bands existed (same world, seed):
#: digests of requests, config, batches and every set, computed with that code.
BEFORE = {
    "single": "952ae8aef6ec38d7",
    "k-different": "90c9c079602fcd87",
    "k-identical": "4310b07a1ec5d821",
    "stream": "89ebb06187f58315",
    "refusal": "db82f937bb288f8a",
    "forget-relation": "bda2a90e56327fb4",
    "forget-facts": "31ce12418456e455",
    "forget-subjects": "93fb662c93c7e273",
}


@pytest.mark.parametrize("name", sorted(BANDED))
def test_without_a_band_scenarios_are_what_they_were(
    uniform_world: World, zipf_world: World, name: str
) -> None:
    for w in (uniform_world, zipf_world):
        sc = build_scenario(w, name, BANDED[name])
        assert "exposure" not in sc.config  # nor in run ids hashed from the resolved settings
        assert _digest(sc) == BEFORE[name]


def test_run_ids_do_not_change_without_a_band() -> None:
    from behemoth.experiments import ExperimentConfig

    cfg = ExperimentConfig(model="m", scenario="k-different", editor="ft")
    assert "exposure" not in cfg.resolved()["scenario_settings"]
    banded = cfg.with_settings(scenario_settings={"exposure": {"edit": EDIT}})
    assert banded.resolved()["scenario_settings"]["exposure"]["edit"] == EDIT
    assert banded.run_id() != cfg.run_id()


@pytest.mark.parametrize(
    ("name", "settings", "field"),
    [
        ("k-different", {"exposure": {"edit": [0.5, 0.1]}}, "exposure.edit"),
        ("k-different", {"exposure": {"test": [0.2, 0.2]}}, "exposure.test"),
        ("single", {"exposure": {"edit": [-0.1, 0.5]}}, "exposure.edit"),
        ("single", {"exposure": {"test": [0.5, 1.5]}}, "exposure.test"),
        ("single", {"exposure": {}}, "exposure.edit"),
        ("single", {"exposure": {"edits": [0, 0.1]}}, "exposure.edits"),
        ("k-different", {"k": 8, "exposure": {"edit": [0, 0.05]}}, "exposure.edit"),
        ("k-identical", {"k": 6, "exposure": {"edit": [0, 0.05]}}, "exposure.edit"),
        ("stream", {"n": 10, "exposure": {"edit": [0, 0.05]}}, "exposure.edit"),
        ("refusal", {"k": 10, "exposure": {"edit": [0, 0.05]}}, "exposure.edit"),
        (
            "forget-facts",
            {"k": 10, "held_out": 0, "exposure": {"edit": [0, 0.05]}},
            "exposure.edit",
        ),
        ("forget-subjects", {"n": 6, "exposure": {"edit": [0, 0.1]}}, "exposure.edit"),
        ("forget-subjects", {"held_out": 6, "exposure": {"test": [0.9, 1]}}, "exposure.test"),
    ],
)
def test_bad_bands_are_refused_in_one_line(
    zipf_world: World, name: str, settings: dict[str, Any], field: str
) -> None:
    with pytest.raises(ConfigError) as e:
        build_scenario(zipf_world, name, settings)
    assert e.value.field == field and "\n" not in str(e.value)


def test_a_band_on_a_uniform_world_is_refused(uniform_world: World) -> None:
    for band in ("edit", "test"):
        with pytest.raises(ConfigError, match="zipf") as e:
            build_scenario(uniform_world, "k-different", {"k": 3, "exposure": {band: [0, 0.5]}})
        assert e.value.field == f"exposure.{band}"


def test_a_named_subject_outside_the_band_is_refused(zipf_world: World) -> None:
    R = zipf_world.graph.n_relations
    outside = int(np.flatnonzero(~_in_band(zipf_world, EDIT).reshape(-1, R)[:, 0])[0])
    with pytest.raises(ConfigError) as e:
        build_scenario(zipf_world, "single", {"subject": outside, "exposure": {"edit": EDIT}})
    assert e.value.field == "subject"


def test_scenarios_that_do_not_choose_by_exposure_refuse_it(tmp_path: Path) -> None:
    nested = make_world(tmp_path, subjects=40, nested_objects=4, exposure={"kind": "zipf"})
    for name in ("nested-ono", "forget-nested"):
        with pytest.raises(ConfigError, match="does not choose facts by exposure"):
            build_scenario(nested, name, {"exposure": {"edit": EDIT}})


def test_same_band_and_seed_give_the_same_scenario(zipf_world: World) -> None:
    s = {"n": 6, "exposure": {"edit": EDIT, "test": TEST}}
    assert _digest(build_scenario(zipf_world, "stream", s)) == _digest(
        build_scenario(zipf_world, "stream", s)
    )
    assert _digest(build_scenario(zipf_world, "stream", s)) != _digest(
        build_scenario(zipf_world, "stream", {**s, "seed": 1})
    )
