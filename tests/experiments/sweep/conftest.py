"""Toy sweep specs for the runner tests (the real worlds, models and editors validate them)."""

from __future__ import annotations

from typing import Any

import pytest

TOY_FN = "tests.experiments.sweep.toy:toy"


def toy_spec_dict(**over: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "toy",
        "worlds": {"w": {"preset": "tiny"}},
        "models": {"m": {"preset": "tiny"}},
        "scenarios": {
            "single": {"name": "single"},
            "3 different": {"name": "k-different", "settings": {"k": 3}},
        },
        "editors": {
            "lora": {"name": "lora", "grid": {"rank": [1, 4]}},
            "rome": {"name": "rome", "grid": {"layer": [1, 2]}},
        },
        "seeds": [0, 1],
    }
    spec.update(over)
    return spec


@pytest.fixture
def toy_spec() -> dict[str, Any]:
    return toy_spec_dict()
