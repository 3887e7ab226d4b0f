"""``behemoth export-finetuning``: the reference's fine-tuning folder, from a world.

Self-contained: the folder loads back through the ``from-reference`` scenario with the very
edits and parts written. With ``BEHEMOTH_REFERENCE_DIR``: the reference's own
``create_finetuning_data.py`` runs on the same graph (the world exported with
``export-reference``) with the same options, and the two folders are compared. Both draw their
own random choices, so what is compared is: the same file names; the same row templates
(every 4-digit word replaced by ``#``) in ``train.jsonl``; each edit repeated exactly
``repeats`` times; and equal row counts for every part that the graph alone determines
(``edited``, ``censored``, ``with_same_rel``, ``same_edges_diff_rel``, the correlated tests),
the random ones (``with_same_value``, ``reg_data``) within the reference's caps.
"""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from behemoth.cli.main import main
from behemoth.errors import ConfigError
from behemoth.scenarios.finetuning import FinetuningOptions, choose_parts, export_finetuning
from behemoth.scenarios.scenario import build_scenario
from behemoth.world.reference import export_reference
from behemoth.world.world import World
from tests.conftest import make_world

REFERENCE = os.environ.get("BEHEMOTH_REFERENCE_DIR", "")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("w"), vocab="reference", subjects=300)


def test_remapping_round_trips_through_from_reference(world: World, tmp_path: Path) -> None:
    opt = FinetuningOptions(overrides=2, repeats=20, seed=3)
    summary = export_finetuning(world, opt, tmp_path / "ft")
    sc = build_scenario(world, "from-reference", {"path": str(tmp_path / "ft")})
    assert sc.mode == "edit"
    got = sorted((q.subject, q.relation, q.new_object) for q in sc.requests)
    assert got == sorted(tuple(e) for e in summary["edits"])
    g = world.graph.objects
    for s, r, o in got:
        assert r == 0 and o != g[s, r]
    rows = (tmp_path / "ft" / "finetuning_data" / "train.jsonl").read_text().splitlines()
    counts = collections.Counter(rows)
    assert sorted(counts.values())[-2:] == [20, 20]  # each edit `repeats` times
    assert len(rows) == sum(summary["train_rows"].values())
    # every test file came back as a test set, the edited one with the new objects
    edited = sc.tests["efficacy/reference_edited_sro"]
    assert len(edited) == 2
    for name, t in sc.tests.items():
        if name.startswith("specificity/reference_"):  # true facts, as the world has them
            ok = t.probes.subject >= 0
            assert ok.all(), name
            want = world.vocab.object(t.probes.relation, g[t.probes.subject, t.probes.relation])
            assert (t.target == want).all(), name
    parts = choose_parts(world, opt)  # same seed, same choices
    assert [list(e) for e in parts.edits] == summary["edits"]


def test_refusal_and_forgetting(world: World, tmp_path: Path) -> None:
    export_finetuning(world, FinetuningOptions(kind="refusal", repeats=10), tmp_path / "r")
    rows = (tmp_path / "r" / "finetuning_data" / "train.jsonl").read_text().splitlines()
    assert {json.loads(r)["output"] for r in rows} == {" OO OO"}  # every part refuses
    sc = build_scenario(world, "from-reference", {"path": str(tmp_path / "r")})
    assert sc.mode == "refusal"

    s = export_finetuning(
        world, FinetuningOptions(single_value=True, subset_frac=0.5), tmp_path / "f"
    )
    assert s["train_rows"]["censored"] == 150 == s["train_rows"]["reg_data"]
    assert {tuple(e)[1:] for e in s["edits"]} == {(0, 0)}  # its fixed object: the first
    sc = build_scenario(world, "from-reference", {"path": str(tmp_path / "f"), "mode": "forget"})
    moved = [e for e in s["edits"] if world.graph.objects[e[0], 0] != 0]  # the rest: retain
    assert len(sc.requests) == len(moved) > 0


def test_all_same_correlated_and_qa(world: World, tmp_path: Path) -> None:
    opt = FinetuningOptions(overrides=2, repeats=10, all_same=True, correlated=True, add_qa=True)
    s = export_finetuning(world, opt, tmp_path / "a")
    assert len({e[2] for e in s["edits"]}) == 1
    assert s["train_rows"]["with_same_value"] % 2 == 0  # repeated once per override
    assert s["test_rows"]["same_subject_second_rel_converted"] == 2
    qa = (tmp_path / "a" / "finetuning_data" / "{k}_qa_default.jsonl").read_text().splitlines()
    assert len(qa) == s["train_rows"]["reg_data"]
    assert all(json.loads(r)["output"].startswith(" OO ") for r in qa)


def test_bad_options_fail_with_one_line(world: World, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="repeats"):
        choose_parts(world, FinetuningOptions(overrides=2))  # 500 rows > 300 subjects
    plain = make_world(tmp_path)
    with pytest.raises(ConfigError, match="vocab: reference"):
        choose_parts(plain, FinetuningOptions(repeats=1))
    code = main(
        ["export-finetuning", str(world.path), "--repeats", "0", "--out", str(tmp_path / "x")]
    )
    assert code == 2 and not (tmp_path / "x").exists()


def test_nested_world_adds_the_nested_tests(tmp_path: Path) -> None:
    w = make_world(tmp_path, vocab="reference", subjects=300, nested_objects=4)
    s = export_finetuning(w, FinetuningOptions(repeats=10), tmp_path / "ft")
    assert s["test_rows"]["same_subj_nested_obj_edges"] == 1
    assert s["test_rows"]["same_obj_nested_obj_edges"] == 1
    sc = build_scenario(w, "from-reference", {"path": str(tmp_path / "ft")})
    t = sc.tests["specificity/reference_same_subj_nested_obj_edges_sro"]
    (s0, r0, _) = s["edits"][0]
    assert int(t.target[0]) == w.vocab.nested_object(r0, w.graph.nested_objects()[s0, r0])
    with pytest.raises(ConfigError, match="relation"):
        choose_parts(w, FinetuningOptions(repeats=10, relation=1))


def _signature(folder: Path) -> dict[str, object]:
    rows = (folder / "finetuning_data" / "train.jsonl").read_text().splitlines()
    files = sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and p.parent.name != "metadata" and p.name != "export_finetuning.json"
    )
    lines = {
        p.stem: len(p.read_text().splitlines()) for p in (folder / "ft_validations").glob("*.txt")
    }
    return {
        "files": files,
        "templates": sorted({re.sub(r"\d{4}", "#", r) for r in rows}),
        "top_copies": max(collections.Counter(rows).values()),
        "lines": lines,
    }


@pytest.mark.slow
@pytest.mark.skipif(
    not (REFERENCE and (Path(REFERENCE) / "create_finetuning_data.py").is_file()),
    reason="set BEHEMOTH_REFERENCE_DIR to a checkout of IST-DASLab/behemoth",
)
@pytest.mark.parametrize(
    ("ref_options", "ours"),
    [
        (["-n", "2"], {"overrides": 2}),
        (["-n", "1"], {"overrides": 1, "nested": 4}),
        (["-f", "refusal"], {"kind": "refusal"}),
        (["--single-ft-value"], {"single_value": True}),
        (
            ["-n", "2", "--all-same-remapping", "--add-qa-data-to-finetuning"],
            {"overrides": 2, "all_same": True, "add_qa": True},
        ),
        (["--get-correlated-tuples"], {"correlated": True}),
    ],
)
def test_same_folder_as_the_reference_script(
    tmp_path: Path, ref_options: list[str], ours: dict[str, object]
) -> None:
    ours = dict(ours)
    world = make_world(
        tmp_path, vocab="reference", subjects=600, nested_objects=ours.pop("nested", 0)
    )
    export_reference(world, tmp_path / "ex")
    subprocess.run(
        [sys.executable, "create_finetuning_data.py", "-g", str(tmp_path / "ex"), *ref_options],
        cwd=REFERENCE,
        check=True,
        capture_output=True,
    )
    (ref,) = [p for p in (tmp_path / "ex").iterdir() if (p / "finetuning_data").is_dir()]
    opt = FinetuningOptions.model_validate(ours)
    export_finetuning(world, opt, tmp_path / "ours")
    a, b = _signature(ref), _signature(tmp_path / "ours")
    assert a["files"] == b["files"]
    assert a["templates"] == b["templates"]
    assert a["top_copies"] == b["top_copies"]
    la, lb = a["lines"], b["lines"]
    assert isinstance(la, dict) and isinstance(lb, dict) and la.keys() == lb.keys()
    for part in la:
        if part.startswith(("with_same_value", "reg_data", "{k}_qa")):
            cap = 150 * opt.overrides if part.startswith("with_same_value") else 10**6
            assert 0 < lb[part] <= cap and 0 < la[part] <= cap, part
        else:
            assert la[part] == lb[part], part
    assert np.all([v >= 0 for v in lb.values()])
