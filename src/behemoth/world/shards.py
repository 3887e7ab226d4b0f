"""Token shards: the corpus written as flat binary arrays of token ids (uint16/uint32).

Each shard holds a fixed range of stream positions, rendered in bounded chunks, so memory does
not grow with ``repeats``. Shards are independent: two processes write two shards at once and
the bytes do not depend on how many workers ran.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from behemoth.world.corpus import Corpus

CHUNK_UNITS = 1 << 20


def _write_shard(corpus: Corpus, start: int, stop: int, path: Path, chunk: int) -> int:
    dtype = corpus.vocab.dtype
    tokens = 0
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        for a in range(start, stop, chunk):
            arr = corpus.render_positions(a, min(stop, a + chunk)).astype(dtype)
            f.write(arr.tobytes())
            tokens += arr.size
    tmp.replace(path)
    return tokens


_WORKER: dict[str, Any] = {}


def _worker(job: tuple[int, int, int, str, int]) -> tuple[int, int]:
    i, start, stop, path, chunk = job
    return i, _write_shard(_WORKER["corpus"], start, stop, Path(path), chunk)


def write_shards(
    corpus: Corpus,
    directory: str | Path,
    workers: int | None = None,
    chunk: int = CHUNK_UNITS,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write one pass over the corpus as ``train_{i:05d}.bin``; return the shard index."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    per = corpus.cfg.shard_units
    jobs = [
        (i, a, min(corpus.n_units, a + per), str(directory / f"train_{i:05d}.bin"), chunk)
        for i, a in enumerate(range(0, corpus.n_units, per))
    ]
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    counts: dict[int, int] = {}
    if workers == 1:
        for job in jobs:
            i, n = _worker_inline(corpus, job)
            counts[i] = n
            if progress:
                progress(job[2] - job[1])
    else:
        _WORKER["corpus"] = corpus
        ctx = mp.get_context("fork")
        with ctx.Pool(workers) as pool:
            for i, n in pool.imap_unordered(_worker, jobs):
                counts[i] = n
                if progress:
                    progress(jobs[i][2] - jobs[i][1])
        _WORKER.clear()
    shards = [
        {"file": Path(j[3]).name, "units": [j[1], j[2]], "tokens": counts[j[0]]} for j in jobs
    ]
    return {
        "dtype": corpus.vocab.dtype.name,
        "tokens": int(sum(counts.values())),
        "units": corpus.n_units,
        "shards": shards,
    }


def _worker_inline(corpus: Corpus, job: tuple[int, int, int, str, int]) -> tuple[int, int]:
    i, start, stop, path, chunk = job
    return i, _write_shard(corpus, start, stop, Path(path), chunk)


def read_shards(directory: str | Path, index: dict[str, Any]) -> list[np.memmap]:
    """Memory-map every shard (no copy)."""
    directory = Path(directory)
    dtype = np.dtype(index["dtype"])
    return [np.memmap(directory / s["file"], dtype=dtype, mode="r") for s in index["shards"]]
