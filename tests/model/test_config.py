"""Model presets and configs: every preset validates; bad settings fail with one clear line."""

from __future__ import annotations

import sys

import pytest

from behemoth.errors import ConfigError
from behemoth.model import ModelConfig, model_preset, model_presets, resolve_run
from behemoth.model.train import lr_factor


@pytest.mark.parametrize("name", model_presets())
def test_every_preset_validates(name: str) -> None:
    cfg = resolve_run(model_preset(name))
    assert cfg.model.layers >= 4  # editors need middle layers


def test_required_presets_exist() -> None:
    assert {"tiny", "demo", "pythia-31m", "pythia-70m", "pythia-160m"} <= set(model_presets())


def test_pythia_31m_is_the_papers_geometry() -> None:
    m = resolve_run(model_preset("pythia-31m")).model
    assert (m.layers, m.width, m.heads, m.mlp, m.rotary_pct, m.parallel_residual) == (
        6,
        256,
        8,
        1024,
        0.25,
        True,
    )


def test_overrides_and_seed() -> None:
    cfg = resolve_run(model_preset("tiny"), None, ["model.layers=6", "train.lr=1e-4"], seed=7)
    assert (cfg.model.layers, cfg.train.lr, cfg.seed) == (6, 1e-4, 7)


@pytest.mark.parametrize(
    ("override", "field", "needle"),
    [
        ("model.heads=5", "model.heads", "divide"),
        ("train.lrr=1", "train.lrr", "train.'lr'"),
        ("train.warmup_steps=100000", "train.warmup_steps", "warmup"),
        ("train.seq_len=4096", "train.seq_len", "max_position"),
        ("train.precision=fp16", "train.precision", ""),
        ("train.embedding_lr_scale=0", "train.embedding_lr_scale", ""),
    ],
)
def test_bad_settings_name_the_field(override: str, field: str, needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        resolve_run(model_preset("tiny"), None, [override])
    assert e.value.field == field
    assert needle in str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_preset_suggests() -> None:
    with pytest.raises(ConfigError, match="did you mean 'tiny'"):
        model_preset("tinyy")


def test_rotary_dims_checked() -> None:
    with pytest.raises(ConfigError, match="rotary_pct"):
        ModelConfig.from_dict({"width": 16, "heads": 8, "rotary_pct": 0.25})


def test_schedule_warmup_then_cosine() -> None:
    f = [lr_factor(s, 10, 110, 0.1) for s in range(111)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert (
        f[10] == pytest.approx(1.0)
        and f[60] == pytest.approx(0.55)
        and f[110] == pytest.approx(0.1)
    )
    assert all(a >= b for a, b in zip(f[10:], f[11:]))


def test_configs_and_plot_do_not_import_torch() -> None:
    import subprocess

    code = (
        "import sys, behemoth.model.logplot, behemoth.model.config, behemoth.model.presets; "
        "print('torch' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"
