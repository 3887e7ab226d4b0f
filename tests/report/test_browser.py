"""Open the report in a real headless browser: no console errors, every plot rendered.

Chromium is installed by ``scripts/setup.sh`` (Debian's package, when run as root with apt).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from behemoth.report import write_report

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(BROWSER is None, reason="chromium is not installed (scripts/setup.sh)")
def test_report_renders_in_chromium(full_sweep: Path, tmp_path: Path) -> None:
    rep = write_report(full_sweep, tmp_path / "r")
    expected = set(re.findall(r'<figure class="plot" id="([^"]+)"', rep.path.read_text()))
    assert expected
    proc = subprocess.run(
        [
            str(BROWSER),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--user-data-dir=" + str(tmp_path / "profile"),
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--dump-dom",
            rep.path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    dom = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console
    rendered = dict(re.findall(r'<figure class="plot" id="([^"]+)" data-rendered="(\w+)"', dom))
    assert rendered == dict.fromkeys(expected, "yes")
