"""A sweep's ``oracle: true`` judges its forget runs only: edit runs of the same sweep go
without (they were refused, one by one, before: "scenario single forgets no facts")."""

from __future__ import annotations

import pytest

from behemoth.experiments.sweep import expand
from behemoth.experiments.sweep.spec import SweepSpec
from behemoth.scenarios.scenario import get_scenario, scenario_names


def test_oracle_reaches_forget_runs_only() -> None:
    spec = SweepSpec.model_validate(
        {
            "worlds": {"w": {"preset": "tiny"}},
            "models": {"m": {"preset": "tiny"}},
            "scenarios": {
                "edit": {"name": "single"},
                "forget": {"name": "forget-relation", "settings": {"share": 0.1}},
            },
            "editors": {"ft": {"name": "ft"}},
            "oracle": True,
        }
    )
    runs = {r.labels["scenario"]: r.config for r in expand(spec)}
    assert runs["forget"]["oracle"] is True
    assert not runs["edit"].get("oracle", False)


@pytest.mark.parametrize("name", scenario_names())
def test_forgets_names_the_forget_scenarios(name: str) -> None:
    forgets = get_scenario(name).config.forgets
    if name.startswith("forget-"):
        assert forgets is True
    elif name == "from-reference":
        assert forgets is None  # its mode may be inferred from the files
    else:
        assert forgets is False
