"""Generate with ordinary memory pages: no transparent-huge-page requests from numpy.

numpy asks the kernel (``madvise(MADV_HUGEPAGE)``) for transparent huge pages for every array
of 4 MiB or more. Where the kernel serves such requests by compacting memory first (the usual
``defrag = madvise`` setting), faulting in the generator's short-lived multi-megabyte arrays
costs far more kernel time than it saves: on these 2-core machines, building and saving the
probes of the 100,000 x 6 x 400 world took 0.56 s of system time with the requests and 0.17 s
without (``bench/bench_reference.py`` measures the whole command). Only the requests change:
huge pages the kernel has free are still used, and the bytes written are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np


def _switch() -> Callable[[bool], bool] | None:
    """numpy's (private) setter, which returns the previous setting; None if it has none."""
    for module in ("_core", "core"):
        setter = getattr(getattr(np, module, None), "multiarray", None)
        setter = getattr(setter, "_set_madvise_hugepage", None)
        if setter is not None:
            return setter  # type: ignore[no-any-return]
    return None


@contextmanager
def ordinary_pages() -> Iterator[None]:
    """Within the block (and in processes forked inside it), numpy requests no huge pages."""
    switch = _switch()
    if switch is None:
        yield
        return
    before = switch(False)
    try:
        yield
    finally:
        switch(before)
