"""``behemoth trace`` end to end on the tiny model (the command lives in ``behemoth.cli.trace``)."""

from __future__ import annotations

import json
from pathlib import Path

from behemoth.cli.main import COMMANDS, main
from behemoth.world import World


def test_trace_is_its_own_cli_module() -> None:
    assert COMMANDS["trace"][0] == "trace"


def test_trace_cli_writes_heatmap(tiny_model: Path, tiny_world: World, tmp_path: Path) -> None:
    out = tmp_path / "trace"
    assert (
        main(
            [
                "trace",
                str(tiny_model),
                "--relation",
                "1",
                "--facts",
                "3",
                "--samples",
                "2",
                "--kind",
                "mlp",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    data = json.loads((out / "trace.json").read_text())
    assert len(data["effect"]) == len(data["tokens"]) and len(data["effect"][0]) == 4
    assert data["clean"] > data["corrupted"]
    assert (out / "trace.png").stat().st_size > 1000


def test_trace_progress_ends_at_its_total(
    tiny_model: Path, tmp_path: Path, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The bar's total counts the passes that find the known facts too: it ends at n/n, never
    past its total (it read 121/120 when the scoring batch was left out)."""
    monkeypatch.setenv("BEHEMOTH_PROGRESS_EVERY", "0")
    args = ["trace", str(tiny_model), "--relation", "0", "--facts", "2", "--samples", "2"]
    assert main([*args, "--kind", "mlp", "--out", str(tmp_path / "t")]) == 0
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("trace ")]
    assert lines, "no progress line"
    done, total = lines[-1].split()[1].split("/")
    assert done == total, lines[-1]
