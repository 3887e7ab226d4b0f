"""An unknown key inside a sub-config is answered with that sub-config's keys (it was answered
with the top-level ones: ``exposure.edt`` got "known keys: seed, template, ...")."""

from __future__ import annotations

import pytest

from behemoth.config import validate
from behemoth.errors import ConfigError
from behemoth.scenarios.builders import SingleConfig
from behemoth.world.config import WorldConfig


@pytest.mark.parametrize(
    ("cls", "data", "field", "hint"),
    [
        (SingleConfig, {"exposure": {"edt": [0.0, 0.1]}}, "exposure.edt", "'edit'"),
        (WorldConfig, {"exposure": {"kindd": "zipf"}}, "exposure.kindd", "'kind'"),
        (SingleConfig, {"exposre": {}}, "exposre", "'exposure'"),
    ],
)
def test_unknown_nested_key_names_its_own_keys(
    cls: type, data: dict, field: str, hint: str
) -> None:
    with pytest.raises(ConfigError) as e:
        validate(cls, data)
    assert e.value.field == field
    assert hint in str(e.value)
