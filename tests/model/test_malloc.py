"""The training process's glibc tuning: applied on glibc, a no-op elsewhere, idempotent."""

from __future__ import annotations

import platform
import sys

from behemoth.model import malloc


def test_keep_freed_memory_applies_on_glibc_only() -> None:
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert malloc.keep_freed_memory() is glibc
    assert malloc.keep_freed_memory() is glibc  # a second call changes nothing
