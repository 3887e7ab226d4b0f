"""A sweep table that holds data for every plot (rank, sites, streams, forgetting), from toy runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from behemoth.config import validate
from behemoth.experiments.sweep import SweepSpec, run_sweep
from behemoth.experiments.sweep.backends import LocalBackend
from tests.experiments.sweep.conftest import toy_spec_dict
from tests.report.toy import TOY_FN


@pytest.fixture(scope="session")
def full_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = toy_spec_dict(
        scenarios={
            "single": {"name": "single"},
            "stream": {"name": "stream", "settings": {"n": 12}},
            "forget": {"name": "forget-relation"},
        },
        editors={
            "lora": {"name": "lora", "grid": {"rank": [1, 4, 16]}},
            "ft": {"name": "ft", "grid": {"part": ["mlp", "attention"], "layers": [[0], [1]]}},
            "bad": {"name": "ft", "settings": {"lr": 0.123}, "scenarios": ["single"]},
        },
        eval_every=3,
    )
    out = tmp_path_factory.mktemp("sweeps") / "full"
    run_sweep(
        validate(SweepSpec, spec), out, backend=LocalBackend(0), run_fn=TOY_FN, progress=False
    )
    return out
