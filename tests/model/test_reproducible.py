"""``train.reproducible`` (``behemoth train --reproducible``): weights that do not depend on the
CPU's vector units, the thread load or the environment's kernel choices.

We cannot train on another CPU here; we train in fresh processes told to pick other kernels
(ATen's AVX2 code, MKL's automatic branch limited to SSE4.2, oneDNN limited to SSE4.1, glibc
without its AVX2/FMA function variants), as another CPU would pick them. The mode gives the same
bytes in each; the default mode, given another ATen capability, does not (so the check has
teeth)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from behemoth.world import World

#: Kernel choices of another CPU, forced in a process of this one.
OTHER_CPU = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "AUTO",
    "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA,-AVX2_Usable,-FMA_Usable",
}
CLEAN = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "BEHEMOTH_THREADS", "OMP_NUM_THREADS", *OTHER_CPU)


def _train(world: World, out: Path, *flags: str, env: dict[str, str] | None = None) -> str:
    """Train ``tiny`` for 12 steps in a fresh process; the sha256 of its weights."""
    base = {k: v for k, v in os.environ.items() if k not in CLEAN}
    cmd = [
        sys.executable,
        "-m",
        "behemoth.cli.main",
        "train",
        str(world.path),
        "--preset",
        "tiny",
        "--set",
        "train.max_tokens=24576",  # 12 steps of 2,048 tokens
        "--set",
        "train.warmup_steps=2",
        "--set",
        "train.eval_sets=[]",
        "--out",
        str(out),
        "--no-progress",
        *flags,
    ]
    r = subprocess.run(cmd, env={**base, **(env or {})}, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "threads: 1 " in r.stderr, r.stderr  # the choice is said
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["threads"] == 1
    return hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()


@pytest.mark.slow
def test_reproducible_training_ignores_the_cpus_kernel_choices(
    tiny_world: World, tmp_path: Path
) -> None:
    plain = _train(tiny_world, tmp_path / "a", "--reproducible")
    other = _train(tiny_world, tmp_path / "b", "--reproducible", env=OTHER_CPU)
    assert plain == other
    # the default mode on one thread: ATen's capability changes the bytes, so the mode's
    # equality above is not a check that could not fail
    avx2 = _train(tiny_world, tmp_path / "c", "--threads", "1", env={"ATEN_CPU_CAPABILITY": "avx2"})
    portable = _train(
        tiny_world, tmp_path / "d", "--threads", "1", env={"ATEN_CPU_CAPABILITY": "default"}
    )
    assert avx2 != portable
    assert plain not in (avx2, portable)


def test_reproducible_is_a_recorded_option() -> None:
    from behemoth.model import model_preset, resolve_run

    cfg = resolve_run(model_preset("tiny"), None, ["train.reproducible=true"], None)
    assert cfg.train.reproducible and cfg.to_dict()["train"]["reproducible"] is True
    assert resolve_run(model_preset("tiny")).train.reproducible is False
