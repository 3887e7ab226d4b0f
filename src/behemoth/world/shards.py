"""Token shards: the corpus written as flat binary arrays of token ids (uint16/uint32).

Each shard holds a fixed range of stream positions, rendered in bounded chunks, so memory does
not grow with ``repeats``. Shards are independent: two processes write two shards (or two
pieces of one) at once, and the bytes do not depend on how many workers ran.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing as mp
import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from behemoth.errors import BehemothError
from behemoth.world.corpus import Corpus

#: Documents rendered per step. Small enough that a chunk's temporaries stay in the CPU cache
#: (measured: 2^16 renders ~1.7x faster than 2^20 on the paper world; bench/bench_generate.py).
CHUNK_UNITS = 1 << 16


class DirectWriter:
    """Append-only file writer that bypasses the page cache (``O_DIRECT``) where it can.

    Measured on these machines: buffered writes cost ~2.4 s of kernel CPU per GB (page-cache
    copies), direct writes ~0.1 s, and the disk takes them at >1 GB/s; for the paper world
    (7 GB of shards) that is ~20% of all the CPU time. Data is staged in an aligned buffer and
    written in whole blocks; the last block is zero-padded and the file truncated to its size.
    Falls back to ordinary buffered writes where ``O_DIRECT`` is unsupported (e.g. tmpfs).

    ``offset`` (a multiple of ALIGN): write into an existing file from that byte on, leaving the
    rest of it alone (several writers fill one file); the file is then neither truncated first
    nor at :meth:`close`, and the last block's zero padding must fall where no other writer
    writes (the end of the file: its owner truncates it to size afterwards).
    """

    ALIGN = 4096
    BUFFER = 1 << 22

    def __init__(self, path: Path, offset: int | None = None) -> None:
        if offset is not None and offset % self.ALIGN:
            raise ValueError(f"offset {offset} is not a multiple of {self.ALIGN}")
        self.path, self.size, self.fill = path, 0, 0
        self.offset, self.shared = offset or 0, offset is not None
        raw = np.empty(self.BUFFER + self.ALIGN, dtype=np.uint8)
        skip = (-raw.ctypes.data) % self.ALIGN
        self.buf = raw[skip : skip + self.BUFFER]
        flags = os.O_WRONLY | (0 if self.shared else os.O_CREAT | os.O_TRUNC)
        try:
            self.fd = os.open(path, flags | getattr(os, "O_DIRECT", 0))
            self.direct = hasattr(os, "O_DIRECT")
        except OSError:
            self.fd, self.direct = os.open(path, flags), False
        if self.offset:
            os.lseek(self.fd, self.offset, os.SEEK_SET)

    def _flush(self, n: int) -> None:
        """Write the first n bytes of the buffer (n a multiple of ALIGN unless not direct)."""
        view = memoryview(self.buf)[:n]  # type: ignore[arg-type]
        while view:
            try:
                done = os.write(self.fd, view)
            except OSError:
                if not self.direct:
                    raise
                # direct I/O refused: continue with ordinary writes from the same offset
                os.close(self.fd)
                self.fd, self.direct = os.open(self.path, os.O_WRONLY), False
                os.lseek(self.fd, self.offset + self.size, os.SEEK_SET)
                continue
            view = view[done:]
            self.size += done

    def write(self, data: np.ndarray) -> None:
        src = data.reshape(-1).view(np.uint8)
        while len(src):
            take = min(len(src), self.BUFFER - self.fill)
            self.buf[self.fill : self.fill + take] = src[:take]
            self.fill += take
            src = src[take:]
            if self.fill == self.BUFFER:
                self._flush(self.BUFFER)
                self.fill = 0

    def close(self) -> None:
        end = self.offset + self.size + self.fill
        if self.fill:
            padded = -(-self.fill // self.ALIGN) * self.ALIGN if self.direct else self.fill
            self.buf[self.fill : padded] = 0
            self._flush(padded)
        if not self.shared:
            os.ftruncate(self.fd, end)
        os.close(self.fd)


def _write_shard(
    corpus: Corpus, start: int, stop: int, path: Path, chunk: int, offset: int = -1
) -> int:
    """Render stream positions [start, stop) in chunks into ``path`` (``offset`` >= 0: into the
    existing file ``path`` from that byte on); return the token count."""
    dtype = corpus.vocab.dtype
    tokens = 0
    tmp = path if offset >= 0 else path.with_name(f".{path.name}.tmp")
    out = DirectWriter(tmp, offset if offset >= 0 else None)
    try:
        for a in range(start, stop, chunk):
            arr = corpus.render_positions(a, min(stop, a + chunk), dtype)
            out.write(arr)
            tokens += arr.size
    finally:
        out.close()
    if offset < 0:
        tmp.replace(path)
    return tokens


def document_width(corpus: Corpus) -> int | None:
    """Tokens of every document when all have the same length (a table of equal rows), else
    None. Then where each piece of a shard starts in the file is known before writing it."""
    table = corpus.table
    return int(table.rows.shape[1]) if table is not None and table.uniform else None


_WORKER: dict[str, Any] = {}
#: (job id, start, stop, path, chunk, byte offset in the shard's file; -1: a file of its own)
Job = tuple[int, int, int, str, int, int]


def _init_worker() -> None:
    """Keep freed chunk buffers in the heap of this worker process (glibc): without this, every
    chunk's multi-megabyte temporaries are mmap'ed and unmapped again, and the page faults cost
    ~25% of the rendering time (bench/bench_generate.py). Only the pool's own processes."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 25)  # M_MMAP_THRESHOLD: 32 MiB, glibc's maximum
        libc.mallopt(-1, 1 << 28)  # M_TRIM_THRESHOLD
        libc.mallopt(-2, 1 << 26)  # M_TOP_PAD
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def _worker(job: Job) -> tuple[int, int]:
    return _worker_inline(_WORKER["corpus"], job)


def _concatenate(parts: list[Path], dest: Path) -> None:
    """Join piece files into ``dest`` in order (in-kernel copy where available)."""
    tmp = dest.with_name(f".{dest.name}.tmp")
    with open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                size = os.fstat(src.fileno()).st_size
                done = 0
                try:
                    while done < size:
                        n = os.copy_file_range(src.fileno(), out.fileno(), size - done)
                        if n == 0:
                            break
                        done += n
                except (AttributeError, OSError):
                    pass
                if done < size:  # no copy_file_range here: copy through user space
                    src.seek(done)
                    out.seek(0, os.SEEK_END)
                    shutil.copyfileobj(src, out, 1 << 24)
            part.unlink()
    tmp.replace(dest)


def write_shards(
    corpus: Corpus,
    directory: str | Path,
    workers: int | None = None,
    chunk: int = CHUNK_UNITS,
    progress: Callable[[int], None] | None = None,
    alongside: Sequence[Callable[[], object]] = (),
) -> dict[str, Any]:
    """Write one pass over the corpus as ``train_{i:05d}.bin``; return the shard index.

    Work is split into jobs of whole shards, or, when there are fewer shards than needed to
    keep every worker busy, into pieces of shards: the bytes never depend on the number of
    workers. When every document has the same length (:func:`document_width`), each piece is
    written straight into its place in the shard's file (piece boundaries fall on whole disk
    blocks); otherwise the pieces are separate files joined in order afterwards, a copy of
    every byte (measured: 0.07-0.14 s of kernel time for the 144 MB of the 100,000 x 6 x 400
    world, `bench/bench_reference.py`).

    With several workers, the corpus's document table is built here, before the worker
    processes start, so that they share it instead of each building its own.

    ``alongside``: other work of the caller (such as a world's other files), each task in a
    thread of this process while the worker processes write, so that it does not wait for them
    (with one worker: before writing); their exceptions propagate.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    per = corpus.cfg.shard_units
    # a biography unit holds several sentences: keep chunks near ``chunk`` sentences
    chunk = max(1, round(chunk * corpus.n_units / max(1, corpus.n_sentences)))
    shards = [
        (a, min(corpus.n_units, a + per), directory / f"train_{i:05d}.bin")
        for i, a in enumerate(range(0, corpus.n_units, per))
    ]
    workers = max(1, workers or os.cpu_count() or 1)
    split = 1 if workers == 1 else -(-4 * workers // len(shards))
    itemsize = corpus.vocab.dtype.itemsize
    width = (document_width(corpus) or 0) if split > 1 else 0  # 0: lengths differ
    # in place: piece starts a whole number of disk blocks into the file
    step = DirectWriter.ALIGN // math.gcd(DirectWriter.ALIGN, width * itemsize) if width else 0
    jobs: list[Job] = []
    pieces: list[list[int]] = []  # shard -> its job ids
    joined: list[bool] = []  # shard -> whether its pieces are files to join
    for a, b, path in shards:
        k = max(1, min(split, -(-(b - a) // chunk)))
        bounds = [a + (b - a) * j // k for j in range(k + 1)]
        if k > 1 and step > 0:
            bounds = sorted({a + (x - a) // step * step for x in bounds[:-1]} | {b})
            k = len(bounds) - 1
        in_place = k > 1 and step > 0
        if in_place:
            with open(_in_place(path), "wb"):  # created empty; the pieces fill it
                pass
        ids = []
        for j in range(k):
            target, offset = path, -1
            if in_place:
                target, offset = _in_place(path), (bounds[j] - a) * width * itemsize
            elif k > 1:
                target = path.with_name(f".{path.name}.part{j:04d}")
            ids.append(len(jobs))
            jobs.append((len(jobs), bounds[j], bounds[j + 1], str(target), chunk, offset))
        pieces.append(ids)
        joined.append(k > 1 and not in_place)
    workers = min(workers, len(jobs))
    if workers > 1:
        corpus.table  # built once here and shared by the forked workers  # noqa: B018
    counts: dict[int, int] = {}
    if workers == 1:
        for task in alongside:
            task()
        for job in jobs:
            i, n = _worker_inline(corpus, job)
            counts[i] = n
            if progress:
                progress(job[2] - job[1])
    else:
        _WORKER["corpus"] = corpus
        ctx = mp.get_context("fork")
        # the workers fork before the threads start: no thread is ever copied into them
        with (
            ctx.Pool(workers, initializer=_init_worker) as pool,
            ThreadPoolExecutor(max(1, len(alongside))) as side,
        ):
            results = pool.imap_unordered(_worker, jobs)
            others = [side.submit(task) for task in alongside]
            for i, n in results:
                counts[i] = n
                if progress:
                    progress(jobs[i][2] - jobs[i][1])
            for other in others:
                other.result()
        _WORKER.clear()
    for (a, b, path), ids, join in zip(shards, pieces, joined):
        if join:
            _concatenate([Path(jobs[i][3]) for i in ids], path)
        elif len(ids) > 1:  # written in place: cut the last block's padding, then publish
            tokens, expected = sum(counts[i] for i in ids), (b - a) * width
            if tokens != expected:
                raise RuntimeError(f"{path.name}: {tokens} tokens written, {expected} expected")
            os.truncate(_in_place(path), tokens * itemsize)
            _in_place(path).replace(path)
    # every shard's size and SHA-256, checked whenever training reads them (read_shards)
    with ThreadPoolExecutor(max(1, min(workers, len(shards)))) as hashers:
        sums = list(hashers.map(file_sha256, [path for _, _, path in shards]))
    index = [
        {
            "file": path.name,
            "units": [a, b],
            "tokens": sum(counts[i] for i in ids),
            "bytes": sum(counts[i] for i in ids) * itemsize,
            "sha256": sha,
        }
        for (a, b, path), ids, sha in zip(shards, pieces, sums)
    ]
    return {
        "dtype": corpus.vocab.dtype.name,
        "tokens": int(sum(counts.values())),
        "units": corpus.n_units,
        "shards": index,
    }


def _worker_inline(corpus: Corpus, job: Job) -> tuple[int, int]:
    i, start, stop, path, chunk, offset = job
    return i, _write_shard(corpus, start, stop, Path(path), chunk, offset)


def _in_place(path: Path) -> Path:
    """The file a shard written in place is filled in before it is published as ``path``."""
    return path.with_name(f".{path.name}.tmp")


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in blocks (hashlib releases the GIL: threads hash in parallel)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def verify_shards(directory: str | Path, index: dict[str, Any]) -> None:
    """Refuse shards that are not the ones written: each must exist with the size and SHA-256
    its index records (a truncated or altered shard is named). Shards written before the
    index recorded them have no checksum and are refused too: integrity is not optional."""
    directory = Path(directory)
    fix = "regenerate the world with shards, or train with --set train.data=stream"
    try:
        itemsize = np.dtype(index["dtype"]).itemsize
        entries = list(index["shards"])
        if not entries:
            raise ValueError("no shards")
    except (KeyError, TypeError, ValueError):
        raise BehemothError(
            f"data: {directory / 'index.json'} is not a shard index; {fix}"
        ) from None
    for s in entries:
        name = s.get("file") if isinstance(s, dict) else None
        if not isinstance(name, str) or Path(name).name != name or name.startswith("."):
            raise BehemothError(
                f"data: {directory / 'index.json'} names no shard file ({name!r}); {fix}"
            )
        f = directory / name
        if not f.is_file():
            raise BehemothError(f"data: shard {f} is missing; {fix}")
        want, sha = s.get("bytes"), s.get("sha256")
        if (
            not isinstance(want, int)
            or not isinstance(sha, str)
            or want != s.get("tokens", -1) * itemsize
        ):
            raise BehemothError(
                f"data: {directory / 'index.json'} records no size and checksum of {name} "
                f"(shards of an older version); {fix}"
            )
        size = f.stat().st_size
        if size != want:
            raise BehemothError(
                f"data: shard {f} holds {size:,} bytes, not the {want:,} written (truncated or "
                f"replaced); {fix}"
            )
        if file_sha256(f) != sha:
            raise BehemothError(
                f"data: shard {f} is not the file written (checksum differs: damaged or "
                f"replaced); {fix}"
            )


def read_shards(directory: str | Path, index: dict[str, Any]) -> list[np.memmap]:
    """Memory-map every shard (no copy), after checking each against its index
    (:func:`verify_shards`)."""
    directory = Path(directory)
    verify_shards(directory, index)
    dtype = np.dtype(index["dtype"])
    return [np.memmap(directory / s["file"], dtype=dtype, mode="r") for s in index["shards"]]
