"""The Ray backend gives the same table as the local one (a local Ray instance, 2 CPUs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from behemoth.config import validate
from behemoth.experiments.sweep import SweepSpec, run_sweep
from behemoth.experiments.sweep.backends import LocalBackend
from tests.experiments.sweep.conftest import TOY_FN, toy_spec_dict

ray = pytest.importorskip("ray")


@pytest.mark.slow
def test_ray_and_local_tables_are_identical(tmp_path: Path) -> None:
    from behemoth.experiments.sweep.backends import RayBackend

    spec = toy_spec_dict()
    spec["editors"]["bad"] = {"name": "ft", "settings": {"lr": 0.123}, "scenarios": ["single"]}
    spec = validate(SweepSpec, spec)
    local = run_sweep(
        spec, tmp_path / "local", backend=LocalBackend(0), run_fn=TOY_FN, progress=False
    )
    on_ray = run_sweep(
        spec, tmp_path / "ray", backend=RayBackend(num_cpus=2), run_fn=TOY_FN, progress=False
    )
    assert not ray.is_initialized()  # the instance it started is shut down
    assert (on_ray.done, on_ray.failed) == (local.done, local.failed) == (16, 2)
    assert (tmp_path / "ray" / "results.parquet").read_bytes() == (
        tmp_path / "local" / "results.parquet"
    ).read_bytes()
