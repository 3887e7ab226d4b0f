"""Which scenarios take exposure bands is said in one place (the config's ``bands``), and the
listings and the refusal's fix agree with it."""

from __future__ import annotations

from behemoth.cli.listing import scenarios_text
from behemoth.errors import ConfigError
from behemoth.scenarios.exposure import ExposureBands, refuse_bands
from behemoth.scenarios.scenario import get_scenario, scenario_names


def test_the_scenarios_that_refuse_bands() -> None:
    no = sorted(n for n in scenario_names() if not get_scenario(n).config.bands)
    assert no == ["forget-nested", "from-reference", "nested-ono"]
    line = next(x for x in scenarios_text().splitlines() if "--scenario.exposure: not" in x)
    assert sorted(line.split("not ", 1)[1].rstrip(")").split(", ")) == no


def test_the_refusal_names_every_scenario_that_takes_bands() -> None:
    bands = ExposureBands.model_validate({"edit": [0.0, 0.1]})
    try:
        refuse_bands(bands, "nested-ono")
    except ConfigError as e:
        text = str(e)
    else:
        raise AssertionError("a band was not refused")
    for n in scenario_names():
        if get_scenario(n).config.bands:
            assert n in text, n
