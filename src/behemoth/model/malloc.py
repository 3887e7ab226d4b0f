"""Keep freed activation buffers in the process heap while training (glibc only).

glibc serves every allocation above ``M_MMAP_THRESHOLD`` (128 KiB, adjusted upward at runtime
up to 32 MiB) with its own ``mmap`` and unmaps it on ``free``; with ``M_TRIM_THRESHOLD`` it also
hands the top of the heap back to the kernel. A training step allocates and frees the same
multi-megabyte buffers (logits [batch x seq, vocab], their gradient, the MLP activations) every
step, so without tuning each step pays page faults to map fresh zeroed pages for them. Raising
the three thresholds lets the allocator reuse those pages from one step to the next
(bench/bench_train.py ``--malloc`` measures the difference). The cost is that the process keeps
its peak heap until it exits. Elsewhere (macOS, musl, Windows) this is a no-op.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
_done = False


def keep_freed_memory() -> bool:
    """Raise glibc's mmap/trim thresholds (once per process); True if they are now raised."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        settings = ((M_MMAP_THRESHOLD, 1 << 30), (M_TRIM_THRESHOLD, 1 << 30), (M_TOP_PAD, 64 << 20))
        _done = all(libc.mallopt(param, value) == 1 for param, value in settings)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return False
    return _done
