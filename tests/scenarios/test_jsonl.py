"""Instruction JSONL: export any scenario, load it back to the same scenario."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from behemoth.errors import BehemothError
from behemoth.scenarios.jsonl import export_jsonl, export_probes, load_jsonl
from behemoth.scenarios.scenario import build_scenario
from behemoth.world import World

CASES = [
    ("k-different", {"k": 3}),
    ("k-identical", {"k": 3}),
    ("refusal", {"k": 3, "format": "question"}),
    ("forget-relation", {"share": 0.6}),
    ("stream", {"n": 8}),
]


@pytest.mark.parametrize("name,over", CASES)
def test_roundtrip(q_world: World, tmp_path: Path, name: str, over: dict) -> None:
    sc = build_scenario(q_world, name, over)
    path = tmp_path / "edit.jsonl"
    n = export_jsonl(sc, q_world, path, repeat=3)
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert n == len(rows) == 3 * len(sc.requests) + len(sc.retain)
    assert all(set(r) == {"instruction", "input", "output"} and r["input"] == "" for r in rows)
    back = load_jsonl(q_world, path)
    assert back.requests == sc.requests and back.mode == sc.mode
    np.testing.assert_array_equal(back.retain.probes.tokens, sc.retain.probes.tokens)
    assert list(back.tests) == list(sc.tests)
    for k, t in sc.tests.items():
        np.testing.assert_array_equal(back.tests[k].probes.tokens, t.probes.tokens)
        np.testing.assert_array_equal(back.tests[k].target, t.target)


def test_nested_ono_roundtrip(nested_world: World, tmp_path: Path) -> None:
    sc = build_scenario(nested_world, "nested-ono", {"k": 2})
    export_jsonl(sc, nested_world, tmp_path / "e.jsonl")
    assert load_jsonl(nested_world, tmp_path / "e.jsonl").requests == sc.requests


def test_text_is_the_world_words(tiny_world: World, tmp_path: Path) -> None:
    sc = build_scenario(tiny_world, "single", {"subject": 5, "relation": 2, "new_object": 0})
    export_jsonl(sc, tiny_world, tmp_path / "e.jsonl")
    first = json.loads((tmp_path / "e.jsonl").read_text().splitlines()[0])
    assert first["instruction"] == "SS s5 W0 W1 RR r2 W2 OO"
    assert first["output"] == "o2_0"
    files = export_probes(sc, tiny_world, tmp_path / "probes")
    line = (tmp_path / "probes" / "efficacy__sro.txt").read_text().strip()
    assert line == "SS s5 W0 W1 RR r2 W2 OO\to2_0" and len(files) == len(sc.tests)


def test_foreign_rows_fail_clearly(tiny_world: World, tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps({"instruction": "SS s5 W0 zzz", "input": "", "output": "o2_0"}) + "\n")
    with pytest.raises(BehemothError, match=r"bad.jsonl:1: not an instruction row"):
        load_jsonl(tiny_world, p)
    p.write_text(
        json.dumps(
            {
                "instruction": "SS s5 W0 W1 RR r2 W2 OO",
                "input": "",
                "output": tiny_world.vocab.decode([tiny_world.probes["sro"].answer[22]]),
            }
        )
        + "\n"
    )
    with pytest.raises(BehemothError, match="no row changes"):
        load_jsonl(tiny_world, p)


def test_forget_with_refusal_target_needs_mode(tiny_world: World, tmp_path: Path) -> None:
    sc = build_scenario(tiny_world, "forget-relation", {"target": "refusal", "share": 0.5})
    export_jsonl(sc, tiny_world, tmp_path / "f.jsonl")
    assert load_jsonl(tiny_world, tmp_path / "f.jsonl").mode == "refusal"  # ambiguous on its own
    back = load_jsonl(tiny_world, tmp_path / "f.jsonl", mode="forget")
    assert back.mode == "forget" and list(back.tests) == list(sc.tests)
    with pytest.raises(BehemothError, match="^mode: "):
        load_jsonl(tiny_world, tmp_path / "f.jsonl", mode="unlearn")
