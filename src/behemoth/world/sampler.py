"""Training sequences straight from the graph: the corpus stream packed into fixed blocks.

The stream is the same one the shards hold (one pass = ``repeats`` copies of every fact, or each
fact's own count, :mod:`behemoth.world.exposure`), and it continues past the end with a fresh
permutation per pass, so training can run as long as it likes without a corpus on disk. The
sampler's state is two integers and a short carry buffer: saving and restoring it resumes the
exact same sequence of batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from behemoth.world.corpus import Corpus
from behemoth.world.shards import read_shards


class StreamSampler:
    """Yields [batch, seq_len] int64 blocks of consecutive corpus tokens (documents packed
    with their end-of-text separators)."""

    def __init__(
        self, corpus: Corpus, seq_len: int, batch_size: int, chunk_units: int = 4096
    ) -> None:
        self.corpus, self.seq_len, self.batch_size = corpus, seq_len, batch_size
        self.chunk_units = chunk_units
        self.position = 0  # next stream position (unit) to render
        self.carry = np.zeros(0, dtype=np.int64)
        self.tokens_served = 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "carry": self.carry.tolist(),
            "tokens_served": self.tokens_served,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.position = int(state["position"])
        self.carry = np.asarray(state["carry"], dtype=np.int64)
        self.tokens_served = int(state["tokens_served"])

    def _fill(self, need: int) -> None:
        parts = [self.carry]
        have = self.carry.size
        while have < need:
            toks = self.corpus.render_positions(self.position, self.position + self.chunk_units)
            self.position += self.chunk_units
            parts.append(toks)
            have += toks.size
        self.carry = np.concatenate(parts)

    def next_batch(self) -> np.ndarray:
        need = self.batch_size * self.seq_len
        self._fill(need)
        out, self.carry = self.carry[:need], self.carry[need:]
        self.tokens_served += need
        return out.reshape(self.batch_size, self.seq_len)

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            yield self.next_batch()

    @property
    def epochs(self) -> float:
        """Passes over the facts so far (a pass = each fact stated once; with per-fact counts,
        :mod:`behemoth.world.exposure`, their mean once)."""
        return self.position / max(1, self.corpus.n_units) * self.corpus.mean_repeats


class ShardSampler:
    """The same interface over written shards (memory-mapped), read in order and wrapping."""

    def __init__(
        self, directory: str | Path, index: dict[str, Any], seq_len: int, batch_size: int
    ) -> None:
        self.maps = read_shards(directory, index)
        self.seq_len, self.batch_size = seq_len, batch_size
        self.total = sum(m.size for m in self.maps)
        self.offsets = np.cumsum([0] + [m.size for m in self.maps])
        self.tokens_served = 0

    def state_dict(self) -> dict[str, Any]:
        return {"tokens_served": self.tokens_served}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.tokens_served = int(state["tokens_served"])

    def _read(self, start: int, n: int) -> np.ndarray:
        out = np.empty(n, dtype=np.int64)
        got = 0
        while got < n:
            pos = (start + got) % self.total
            i = int(np.searchsorted(self.offsets, pos, side="right") - 1)
            a = pos - self.offsets[i]
            take = min(n - got, self.maps[i].size - a)
            out[got : got + take] = self.maps[i][a : a + take]
            got += take
        return out

    def next_batch(self) -> np.ndarray:
        need = self.batch_size * self.seq_len
        out = self._read(self.tokens_served, need)
        self.tokens_served += need
        return out.reshape(self.batch_size, self.seq_len)

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            yield self.next_batch()
