"""export-finetuning's balance rule names the flags that fix it and a value that fits."""

from __future__ import annotations

from pathlib import Path

import pytest

from behemoth.errors import ConfigError
from behemoth.scenarios.finetuning import FinetuningOptions, choose_parts
from tests.conftest import make_world


def test_the_balance_rule_names_overrides_repeats_and_a_value_that_fits(tmp_path: Path) -> None:
    world = make_world(tmp_path, vocab="reference")  # 100 subjects
    with pytest.raises(ConfigError) as e:
        choose_parts(world, FinetuningOptions(overrides=2))  # 2 x 250 rows > 100 subjects
    text = str(e.value)
    assert text.startswith("repeats: 2 x 250 override rows exceed 100 subjects")
    assert "-n/--overrides or --repeats (e.g. --repeats 50)" in text
    choose_parts(world, FinetuningOptions(overrides=2, repeats=50))  # the suggestion fits
