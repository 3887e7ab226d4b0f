"""Sweeps: a spec of worlds x models x scenarios x editors x grids x seeds, run as one study.

``load_spec`` reads and validates a spec, ``expand`` lists its runs (each a resolved config with
a run id), ``run_sweep`` runs the unfinished ones on a backend and writes one Parquet table.
"""

from behemoth.experiments.sweep.runner import SweepResult, run_sweep
from behemoth.experiments.sweep.spec import RunSpec, SweepSpec, expand, load_spec

__all__ = ["RunSpec", "SweepResult", "SweepSpec", "expand", "load_spec", "run_sweep"]
