"""Issue 22, no hidden state: the cache travels in the run's ``EditContext``, never in an editor
setting, the environment or the editor; a damaged statistics entry is rebuilt (issue 24)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from behemoth.editors import build_editor
from behemoth.editors.context import EditContext
from behemoth.editors.locate.stats import second_moments
from behemoth.errors import BehemothError, ConfigError
from behemoth.world import World
from tests.editors.conftest import make_requests

MLP_OUT = "gpt_neox.layers.2.mlp.dense_4h_to_h"
KW = dict(n_tokens=300, seq_len=32, batch_size=8, progress=False)


def test_statistics_go_to_the_contexts_cache_and_nowhere_without_one(
    edit_model: torch.nn.Module, tiny_world: World, tmp_path: Path
) -> None:
    editor = build_editor("rome", {"layer": 2, "mom2_n_tokens": 300})
    editor.prepare(edit_model, EditContext(tiny_world, cache=tmp_path / "c"))
    files = list((tmp_path / "c" / "stats").glob("*.pt"))
    assert len(files) == 1 and "dense_4h_to_h" in files[0].name
    # the editor keeps no context: preparing again without a cache writes nothing anywhere
    assert not hasattr(editor, "_context")
    before = set(tmp_path.rglob("*"))
    editor.prepare(edit_model, EditContext(tiny_world))
    assert set(tmp_path.rglob("*")) == before


def test_the_cache_is_no_editor_setting(tmp_path: Path) -> None:
    """A machine-local path never enters an editor's settings (and so never a run id)."""
    for name in ("rome", "memit", "alphaedit"):
        with pytest.raises(ConfigError, match="stats_dir"):
            build_editor(name, {"stats_dir": str(tmp_path)})


def test_apply_needs_the_context_it_is_given(
    edit_model: torch.nn.Module, tiny_world: World
) -> None:
    """``prepare`` stashes nothing for ``apply`` to fall back on: the context is passed."""
    editor = build_editor("ft", {"steps": 1, "layers": [2]})
    editor.prepare(edit_model, EditContext(tiny_world))
    with pytest.raises(BehemothError, match="needs an EditContext"):
        editor.apply(edit_model, make_requests(tiny_world, 1), None)  # type: ignore[arg-type]


def test_run_id_does_not_depend_on_the_cache_path(tiny_model: Path, tiny_world: World) -> None:
    from behemoth.config import validate
    from behemoth.experiments.config import ExperimentConfig

    base = {
        "model": str(tiny_model),
        "world": str(tiny_world.path),
        "editor": "rome",
        "scenario": "single",
    }
    ids = {
        validate(ExperimentConfig, {**base, "cache": c}).run_id()
        for c in (None, "/tmp/a", "/somewhere/else")
    }
    assert len(ids) == 1


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[: len(b) // 2],  # truncated
        lambda b: b"not a tensor at all",  # something else
        lambda b: b[:-200] + bytes(x ^ 0xFF for x in b[-200:]),  # bit-flipped tail
    ],
    ids=["truncated", "foreign", "bitflip"],
)
def test_a_damaged_statistics_entry_is_rebuilt(
    damage: object,
    edit_model: torch.nn.Module,
    tiny_world: World,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = second_moments(edit_model, tiny_world, [MLP_OUT], cache_dir=tmp_path, **KW)[MLP_OUT]
    (f,) = tmp_path.glob("*.pt")
    f.write_bytes(damage(f.read_bytes()))  # type: ignore[operator]
    with caplog.at_level(logging.WARNING, logger="behemoth.editors.locate.stats"):
        again = second_moments(edit_model, tiny_world, [MLP_OUT], cache_dir=tmp_path, **KW)
    assert torch.equal(again[MLP_OUT], good)
    assert str(f) in caplog.text and "rebuilding" in caplog.text
    assert torch.equal(torch.load(f, weights_only=True), good)  # the entry is whole again


def test_a_statistics_entry_of_the_wrong_shape_is_rebuilt(
    edit_model: torch.nn.Module, tiny_world: World, tmp_path: Path
) -> None:
    good = second_moments(edit_model, tiny_world, [MLP_OUT], cache_dir=tmp_path, **KW)[MLP_OUT]
    (f,) = tmp_path.glob("*.pt")
    torch.save(torch.zeros(3, 3, dtype=torch.float64), f)
    again = second_moments(edit_model, tiny_world, [MLP_OUT], cache_dir=tmp_path, **KW)
    assert torch.equal(again[MLP_OUT], good)
