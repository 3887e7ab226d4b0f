"""Tables the CLI prints show each value with its 95% interval and n."""

from __future__ import annotations

from behemoth.cli.train import accuracy_table
from behemoth.evaluation.uncertainty import wilson
from behemoth.world import World


def test_train_prints_accuracy_with_interval_and_n(tiny_world: World) -> None:
    probes = tiny_world.probes
    names = [n for n, p in probes.items() if len(p)][:2]
    final = {names[0]: {"acc": 0.75, "loss": 0.1}, names[1]: {"acc": 1.0, "loss": 0.0}}
    lines = accuracy_table(final, probes).splitlines()
    n0 = len(probes[names[0]])
    lo, hi = wilson(round(0.75 * n0), n0)
    assert names[0] in lines[1] and f"0.750 [{lo:.3f}, {hi:.3f}] n={n0}" in lines[1]
    assert "1.000 [" in lines[2] and f"1.000] n={len(probes[names[1]])}" in lines[2]


def test_train_serac_prints_shares_with_interval_and_n() -> None:
    from behemoth.cli.train_serac import classifier_table

    part = {
        "precision": 0.9,
        "recall": 0.6,
        "false_positive_rate": 0.0,
        "counterfactual_accuracy": 0.5,
        "n_predicted": 20,
        "n_positive": 30,
        "n_negative": 50,
        "n_counterfactual": 8,
    }
    lines = classifier_table({"train": part, "held_out_subjects": part}).splitlines()
    assert len(lines) == 1 + 2 * 4 and "95% interval" in lines[0]
    lo, hi = wilson(18, 20)
    assert lines[1].split()[2:] == ["0.900", f"[{lo:.3f},", f"{hi:.3f}]", "20"]
    assert "[0.000, " in lines[3] and lines[3].split()[-1] == "50"
