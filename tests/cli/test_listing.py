"""``behemoth editors`` / ``behemoth scenarios`` and ``behemoth edit --help``: every setting with
its default and meaning, read without importing an editor (cli/listing.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from behemoth.cli import listing
from behemoth.cli.main import main


def test_static_reading_matches_every_registered_editor() -> None:
    from behemoth.editors.registry import EDITORS

    static = listing.builtin_editors()
    assert set(static) == set(EDITORS)
    for name, cls in EDITORS.items():
        real = cls.Config.model_fields
        entry = static[name]
        assert [s.name for s in entry.settings] == list(real), name
        for s in entry.settings:
            f = real[s.name]
            assert s.description == (f.description or ""), (name, s.name)
            if not isinstance(s.default, listing.Computed):
                assert s.default == f.get_default(call_default_factory=True), (name, s.name)
        assert entry.paper, f"{name}: no paper (class attribute `paper` or package docstring)"


def test_edit_help_lists_each_editors_settings_without_torch() -> None:
    code = (
        "import sys\n"
        "from behemoth.cli.main import main\n"
        "try:\n    main(['edit', '--help'])\n"
        "except SystemExit:\n    pass\n"
        "print('TORCH' if 'torch' in sys.modules else 'LIGHT')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().endswith("LIGHT")
    assert "lora       " in out and "rank=4" in out
    assert "rome       " in out and "mom2_adjustment=true" in out
    for name in listing.editor_names():
        assert f"  {name} " in out


def test_editors_listing_one_editor(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["editors", "lora"]) == 0
    out = capsys.readouterr().out
    assert "paper: LoRA" in out or "Hu et al." in out
    assert "--editor.rank (int, default 4)" in out
    assert "r: rank of each adapter." in out
    assert "--editor.targets (list[Target], default ['mlp_out'])" in out


def test_editors_listing_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["editors", "lroa"]) == 2
    assert "did you mean 'lora'?" in capsys.readouterr().err


def test_scenarios_listing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    from behemoth.scenarios.scenario import scenario_names

    for name in scenario_names():
        assert f"\n{name}: " in out
    assert "--scenario.n (int, default" in out
    assert main(["scenarios", "stream"]) == 0
    one = capsys.readouterr().out
    assert "paper: Sequential editing (Gupta et al. 2024" in one
    assert "--scenario.template (str, default 'sro')" in one
