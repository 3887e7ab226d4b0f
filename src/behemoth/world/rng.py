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


def derive_rng(seed: int, name: str) -> np.random.Generator:
    """A numpy Generator for one named purpose, independent of every other name."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode())]))


def stream_key(seed: int, name: str) -> np.uint64:
    """A 64-bit key for the counter-based hash of one named stream."""
    return np.uint64((seed * 0x9E3779B1 + zlib.crc32(name.encode()) * 0x85EBCA77) & (2**64 - 1))


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer, vectorized over uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + _GOLD
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


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
    """

    ROUNDS = 4

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

    def _round(self, x: np.ndarray) -> np.ndarray:
        h = np.uint64(self.half)
        left, right = x >> h, x & self.mask
        for k in self.keys:
            left, right = right, left ^ (mix64(right ^ k) & self.mask)
        return (left << h) | right

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        x = self._round(np.asarray(idx, dtype=np.uint64))
        bad = x >= np.uint64(self.n)
        while bad.any():
            x[bad] = self._round(x[bad])
            bad = x >= np.uint64(self.n)
        return x.astype(np.int64)
