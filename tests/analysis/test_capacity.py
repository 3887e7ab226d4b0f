"""Knowledge bits (Allen-Zhu & Li 2024) on hand-made predictions, checked against an
independent computation (scipy.stats.entropy of the model's distribution against the truth)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from behemoth.analysis.capacity import (
    bits_per_param,
    fact_bits,
    facts_known,
    knowledge_bits,
    plot_capacity,
    summarize,
    table_markdown,
    tokens_per_fact_at,
)
from behemoth.errors import ConfigError

T = 16
N = 10


def test_uniform_predictions_store_nothing() -> None:
    lp = np.full(N, -math.log(T))
    assert knowledge_bits(lp, T) == pytest.approx(0.0, abs=1e-12)
    assert knowledge_bits(lp, T, floor=False) == pytest.approx(0.0, abs=1e-12)


def test_a_perfect_model_stores_n_log2_t() -> None:
    assert knowledge_bits(np.zeros(N), T) == pytest.approx(N * 4.0)
    assert fact_bits(np.zeros(3), 40) == pytest.approx([math.log2(40)] * 3)


def test_bits_fall_as_the_loss_rises_and_stop_at_zero() -> None:
    losses = np.linspace(0.0, 2 * math.log(T), 41)  # nats, past the uniform guess
    bits = fact_bits(-losses, T)
    assert np.all(np.diff(bits) <= 0) and np.any(np.diff(bits) < 0)
    assert bits[0] == pytest.approx(4.0) and bits[-1] == 0.0
    raw = fact_bits(-losses, T, floor=False)  # the paper's unfloored sum goes negative
    assert raw[-1] == pytest.approx(-4.0) and np.all(np.diff(raw) < 0)


def test_matches_an_independent_computation() -> None:
    """The cross-entropy of the true object (a point mass p) under the model's distribution q
    is H(p) + KL(p || q) bits (scipy.stats.entropy); a fact's bits are log2 T minus it,
    floored at 0, summed over the facts."""
    rng = np.random.default_rng(0)
    q = rng.dirichlet(np.ones(T), size=N)  # [N, T] the model's distributions
    truth = rng.integers(0, T, size=N)
    lp = np.log(q[np.arange(N), truth])
    expected = 0.0
    for i in range(N):
        p = np.zeros(T)
        p[truth[i]] = 1.0
        ce = stats.entropy(p, base=2) + stats.entropy(p, q[i], base=2)  # H(p) + KL(p||q)
        expected += max(0.0, math.log2(T) - ce)
    assert knowledge_bits(lp, T) == pytest.approx(expected, rel=1e-12)


def test_unfloored_is_the_papers_value_term() -> None:
    """Allen-Zhu & Li (2024, v1, Theorem 3.2 / Definition 4.1), value term with C = 1 and
    D = T: N log2(T / e^p2), p2 the mean loss in nats. The floor only adds the loss beyond the
    uniform guess, fact by fact."""
    rng = np.random.default_rng(1)
    lp = np.log(rng.dirichlet(np.ones(T), size=N)[:, 0])  # some facts below 1/T, some above
    p2 = float(np.mean(-lp))
    assert knowledge_bits(lp, T, floor=False) == pytest.approx(N * math.log2(T / math.exp(p2)))
    excess = np.maximum(0.0, -lp / math.log(2) - math.log2(T)).sum()
    gap = knowledge_bits(lp, T) - knowledge_bits(lp, T, floor=False)
    assert excess > 0 and gap == pytest.approx(excess)


def test_refuses_nonsense() -> None:
    with pytest.raises(ConfigError, match="n_choices"):
        knowledge_bits(np.zeros(2), 1)
    with pytest.raises(ConfigError, match="object_logprob"):
        knowledge_bits(np.array([0.5]), T)
    with pytest.raises(ConfigError, match="params"):
        bits_per_param(1.0, 0)


def test_facts_known_and_ratio() -> None:
    assert facts_known([1, 2, 3, 4], [1, 0, 3, 0]) == 2
    assert bits_per_param(200.0, 100) == 2.0


def test_tokens_per_fact_first_crossing() -> None:
    hist = [
        {"tokens": 0, "sets": {"sro": {"acc": 0.0}}},
        {"tokens": 1000, "sets": {"sro": {"acc": 0.6}}},
        {"tokens": 2000, "sets": {"sro": {"acc": 0.4}}},
        {"tokens": 3000, "sets": {"sro": {"acc": 0.995}}},
    ]
    assert tokens_per_fact_at(hist, "sro", 10, 0.5) == 100.0
    assert tokens_per_fact_at(hist, "sro", 10, 0.99) == 300.0
    assert tokens_per_fact_at(hist[:3], "sro", 10, 0.99) is None


def _rows() -> pd.DataFrame:
    rows = []
    for width, known in ((32, [10, 12, 14]), (64, [40, 40, 40])):
        for i, k in enumerate(known):
            rows.append(
                {
                    "width": width,
                    "layers": 2,
                    "params_all": width * 100,
                    "params_non_embedding": width * 50,
                    "replicate": i,
                    "n_facts": 40,
                    "facts_known": k,
                    "bits": 4.0 * k,
                    "bits_unfloored": 4.0 * k - 3.0,
                    "bits_max": 160.0,
                    "bits_per_param_all": (4.0 * k - 3.0) / (width * 100),
                    "bits_per_param_non_embedding": (4.0 * k - 3.0) / (width * 50),
                    "tokens_per_fact_50": None if width == 32 else 100.0 + i,
                    "tokens_per_fact_99": None,
                }
            )
    return pd.DataFrame(rows)


def test_table_states_every_figure_over_models(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows = _rows()
    s = summarize(rows)
    e = s[0]["estimates"]["facts_known"]
    lo, hi = stats.t.interval(0.95, 2, loc=12.0, scale=2.0 / math.sqrt(3))
    assert (e.value, e.sd, e.n_models) == (12.0, 2.0, 3)
    assert (e.lo, e.hi) == pytest.approx((lo, hi))
    md = table_markdown(rows)
    assert "12.0 [" in md and "models: 10.0, 12.0, 14.0" in md
    assert "3 never reached" in md and "40.0 sd 0" in md
    png = plot_capacity(rows, tmp_path / "c.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert plot_capacity(rows, tmp_path / "d.png").read_bytes() == png.read_bytes()
