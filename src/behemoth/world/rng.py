"""Explicit randomness: generators derived from (seed, name), and counter-based hashing.

No global random state is ever used. Per-sentence choices come from a stateless hash of
(seed, stream, sentence id), so any part of the corpus can be rendered independently, in any
order, by any number of workers, with identical results.
"""

from __future__ import annotations

import zlib

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_S27, _S30, _S31 = np.uint64(27), np.uint64(30), np.uint64(31)


def derive_rng(seed: int, name: str) -> np.random.Generator:
    """A numpy Generator for one named purpose, independent of every other name."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode())]))


def stream_key(seed: int, name: str) -> np.uint64:
    """A 64-bit key for the counter-based hash of one named stream."""
    return np.uint64((seed * 0x9E3779B1 + zlib.crc32(name.encode()) * 0x85EBCA77) & (2**64 - 1))


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer, vectorized over uint64 (wrapping arithmetic).

    Computed in place on one new array plus one scratch buffer: the corpus calls this on
    every sentence several times, and the temporaries were a large part of its cost.
    """
    with np.errstate(over="ignore"):
        z = np.add(x, _GOLD, dtype=np.uint64)
        if z.ndim == 0:  # scalars: no in-place arithmetic
            z = (z ^ (z >> _S30)) * _M1
            z = (z ^ (z >> _S27)) * _M2
            return z ^ (z >> _S31)
        t = np.right_shift(z, _S30)
        z ^= t
        z *= _M1
        np.right_shift(z, _S27, out=t)
        z ^= t
        z *= _M2
        np.right_shift(z, _S31, out=t)
        z ^= t
        return z


def hash_u64(key: np.uint64, ids: np.ndarray) -> np.ndarray:
    """64 random bits per id, a pure function of (key, id)."""
    return mix64(np.asarray(ids, dtype=np.uint64) ^ key)


def uniform(bits: np.ndarray) -> np.ndarray:
    """Map 64 random bits to floats in [0, 1) (53-bit precision)."""
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def below(bits: np.ndarray, n: int | np.ndarray) -> np.ndarray:
    """Map 64 random bits to integers in [0, n) (uniform up to 2^-32 bias)."""
    return ((bits >> np.uint64(32)) * np.asarray(n, dtype=np.uint64) >> np.uint64(32)).astype(
        np.int64
    )


class Permutation:
    """A seeded pseudo-random permutation of [0, n), evaluated pointwise in O(1) memory.

    A balanced Feistel network over the smallest even power of two >= n, with cycle walking
    to stay inside [0, n). Lets the corpus be shuffled globally (3x10^8 sentences) without
    ever materializing the shuffled order.

    A round function only sees the right half (``half`` bits), so for halves up to
    ``TABLE_BITS`` bits each round's function is tabulated once (2^half entries) and a round
    becomes a table lookup: the same values, several times faster than hashing every element.
    """

    ROUNDS = 4
    TABLE_BITS = 20  # tables of up to 2^20 uint32 entries (4 MiB) per round

    def __init__(self, n: int, key: np.uint64) -> None:
        self.n = int(n)
        bits = max(2, (max(self.n - 1, 1)).bit_length())
        bits += bits % 2
        self.half = bits // 2
        self.mask = np.uint64((1 << self.half) - 1)
        self.keys = [
            mix64(np.array([key + np.uint64(i + 1)], dtype=np.uint64))[0]
            for i in range(self.ROUNDS)
        ]
        self._tables: list[np.ndarray] | None = None
        # table rounds run in int32 when every value fits (up to 2^30 units), else int64
        self._dtype = np.dtype(np.int32 if 2 * self.half <= 30 else np.int64)

    def _round(self, x: np.ndarray) -> np.ndarray:
        h = np.uint64(self.half)
        left, right = x >> h, x & self.mask
        for k in self.keys:
            f = np.bitwise_xor(right, k)
            f = mix64(f)
            f &= self.mask
            f ^= left
            left, right = right, f
        left <<= h
        left |= right
        return left

    @property
    def tables(self) -> list[np.ndarray]:
        """Round functions tabulated: ``tables[i][r] == mix64(r ^ keys[i]) & mask``."""
        if self._tables is None:
            r = np.arange(1 << self.half, dtype=np.uint64)
            self._tables = [(mix64(r ^ k) & self.mask).astype(self._dtype) for k in self.keys]
        return self._tables

    def _round_table(self, x: np.ndarray) -> np.ndarray:
        """:meth:`_round` by table lookup, on int32/int64 values (< 2^(2 * half))."""
        h, mask = self.half, (1 << self.half) - 1
        left, right = x >> h, x & mask
        for t in self.tables:
            f = np.take(t, right)
            f ^= left
            left, right = right, f
        left <<= h
        left |= right
        return left

    def __call__(self, idx: np.ndarray, native: bool = False) -> np.ndarray:
        """The images of ``idx`` (int64; ``native``: in the int32 the table rounds use, when
        they do, to spare the caller a widening copy)."""
        if self.half <= self.TABLE_BITS:
            x = self._round_table(np.asarray(idx, dtype=self._dtype))
            todo = np.flatnonzero(x >= self.n)
            while todo.size:
                y = self._round_table(x[todo])
                x[todo] = y
                todo = todo[y >= self.n]
            return x if native else x.astype(np.int64, copy=False)
        x = self._round(np.asarray(idx, dtype=np.uint64))
        # cycle walking: re-encrypt only the values that fell outside [0, n)
        todo = np.flatnonzero(x >= np.uint64(self.n))
        while todo.size:
            y = self._round(x[todo])
            x[todo] = y
            todo = todo[y >= np.uint64(self.n)]
        return x.astype(np.int64)
