"""Sweep specs: validated whole before anything runs; run ids follow the resolved config."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from behemoth.config import validate
from behemoth.errors import ConfigError
from behemoth.experiments.sweep import SweepSpec, expand, load_spec
from behemoth.presets import preset_names
from tests.experiments.sweep.conftest import toy_spec_dict


def _expand(d: dict[str, Any]) -> list[Any]:
    return expand(validate(SweepSpec, d))


def test_expand_is_the_product_with_stable_ids(toy_spec: dict[str, Any]) -> None:
    runs = _expand(toy_spec)
    assert len(runs) == 2 * 4 * 2  # scenarios x (editor grid points) x seeds
    assert len({r.run_id for r in runs}) == len(runs)
    assert [r.run_id for r in _expand(toy_spec)] == [r.run_id for r in runs]
    # the config is resolved: defaults written out, the seed reaches scenario and editor
    r = runs[0]
    assert r.config["editor"]["settings"]["seed"] == int(r.labels["seed"])
    assert r.config["scenario"]["settings"]["seed"] == int(r.labels["seed"])
    assert "retain_share" in r.config["scenario"]["settings"]


def test_run_id_changes_with_any_setting(toy_spec: dict[str, Any]) -> None:
    ids = {r.run_id for r in _expand(toy_spec)}
    toy_spec["editors"]["lora"]["settings"] = {"alpha": 4.0}
    ids2 = {r.run_id for r in _expand(toy_spec)}
    assert len(ids & ids2) == len(ids) - 8  # the 8 LoRA runs changed, the ROME runs did not


@pytest.mark.parametrize(
    "change, field",
    [
        ({"worlds": {"w": {"preset": "tiny", "set": {"subjectz": 3}}}}, "subjectz"),
        ({"editors": {"x": {"name": "romee"}}}, "editors.x"),
        ({"editors": {"x": {"name": "lora", "settings": {"rank": 0}}}}, "editors.x.rank"),
        ({"scenarios": {"s": {"name": "single", "settings": {"k": 3}}}}, "scenarios.s.k"),
        ({"editors": {"x": {"name": "lora", "scenarios": ["nope"]}}}, "editors.x.scenarios"),
        ({"seeds": []}, "seeds"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_spec_names_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as e:
        _expand(toy_spec_dict(**change))
    assert field in str(e.value)


def test_restrictions_and_duplicates(toy_spec: dict[str, Any]) -> None:
    toy_spec["editors"]["rome"]["scenarios"] = ["single"]
    toy_spec["editors"]["rome again"] = {"name": "rome", "settings": {"layer": 1}}
    runs = _expand(toy_spec)
    rome = [r for r in runs if r.config["editor"]["name"] == "rome"]
    # rome: 2 layers x 2 seeds on 'single' only; 'rome again' adds layer 1 on '3 different'
    # (its 'single' runs are the same configs as rome layer=1: one run each)
    assert len(rome) == 4 + 2
    assert len({r.run_id for r in runs}) == len(runs)


def test_scale_overrides(tmp_path: Any) -> None:
    d = toy_spec_dict(
        scales={"big": {"seeds": [0, 1, 2], "editors": {"lora": {"grid": {"rank": [8]}}}}}
    )
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(d))
    assert load_spec(p).seeds == [0, 1]
    big = load_spec(p, "big")
    assert big.seeds == [0, 1, 2] and big.editors["lora"].grid == {"rank": [8]}
    with pytest.raises(ConfigError, match="--scale"):
        load_spec(p, "huge")


@pytest.mark.parametrize("name", preset_names("sweep"))
def test_presets_load(name: str) -> None:
    """Every shipped study validates, at CPU and paper scale; a preset naming editors that are
    not registered yet (the unlearning methods) fails with a one-line error naming them."""
    from behemoth.editors import editor_names

    for scale in (None, *load_spec(name).scales):
        spec = load_spec(name, scale)
        missing = {e.name for e in spec.editors.values()} - set(editor_names())
        if missing:
            with pytest.raises(ConfigError, match="unknown editor"):
                expand(spec)
        else:
            assert expand(spec)
