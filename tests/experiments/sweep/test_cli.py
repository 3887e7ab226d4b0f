"""``behemoth sweep`` / ``behemoth report``: bad input is one line and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from behemoth.cli.main import main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["sweep", "nopreset", "--out", "{tmp}/o"], "SPEC: no file or sweep preset"),
        (["sweep", "{tmp}/missing.yaml", "--out", "{tmp}/o"], "SPEC: file"),
        (["sweep", "demo", "--scale", "huge", "--out", "{tmp}/o"], "--scale"),
        (["sweep", "demo", "--out", "{tmp}/o", "--address", "x:1"], "--address"),
        (["sweep", "demo", "--out", "{tmp}/o", "--workers", "-1"], "--workers"),
        (["sweep", "demo", "--out", "{tmp}/other"], "not a sweep"),
        (["report", "{tmp}/o"], "SWEEP_OR_RUN"),
    ],
)
def test_bad_input_is_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "world.json").write_text("{}")
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_dry_run_lists_the_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["sweep", "demo", "--scale", "quick", "--out", str(tmp_path / "o"), "--dry-run"]) == 0
    )
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == "15 runs" and len(out) == 16  # 14 edits + one forgetting run
