"""Versions, git revision, machine and time, recorded next to every artifact."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as md
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from behemoth.io import write_json

_PACKAGES = (
    "behemoth",
    "numpy",
    "pyarrow",
    "tokenizers",
    "transformers",
    "torch",
    "accelerate",
    "peft",
)


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


def git_revision() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return rev.stdout.strip() or None if rev.returncode == 0 else None


def provenance(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What made an artifact: the only file allowed to differ between identical runs."""
    data: dict[str, Any] = {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "node": platform.node(),
        },
        "versions": package_versions(),
        "git_revision": git_revision(),
    }
    if extra:
        data.update(extra)
    return data


def write_provenance(directory: str | Path, extra: dict[str, Any] | None = None) -> None:
    write_json(Path(directory) / "provenance.json", provenance(extra))
