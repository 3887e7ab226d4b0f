"""The ``from-reference`` scenario loads fine-tuning folders the reference's script wrote."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from behemoth.errors import ConfigError
from behemoth.scenarios.scenario import build_scenario
from behemoth.scenarios.split import check_editor_inputs
from behemoth.world.config import WorldConfig
from behemoth.world.reference import export_reference, import_reference
from behemoth.world.world import World, generate_world

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "reference"
FT = FIXTURES / "twotoken_ft"


@pytest.fixture(scope="module")
def twotoken(tmp_path_factory: pytest.TempPathFactory) -> World:
    return import_reference(FIXTURES / "twotoken", tmp_path_factory.mktemp("w") / "w")


def test_remapping_folder_loads_with_its_test_sets(twotoken: World) -> None:
    folder = FT / "ftremapping_2overrides_250overriderepeats"
    sc = build_scenario(twotoken, "from-reference", {"path": str(folder)})
    assert sc.mode == "edit" and len(sc.requests) == 2
    edited = sc.tests["efficacy/reference_edited_sro"]
    assert len(edited) == 2
    # the requests are the reference's edited facts: same prompts, same new objects
    got = {(q.prompt, q.target_new) for q in sc.requests}
    want = {(tuple(edited.probes.prompt(i).tolist()), int(edited.target[i])) for i in range(2)}
    assert got == want
    for q in sc.requests:
        assert q.target_new != q.target_old
    assert len(sc.retain) > 0 and "retain/reference_reg_data_sro" in sc.tests
    # specificity never scores a fact that train.jsonl rehearses; those are reported apart
    assert "retain/reference_with_same_rel_sro_rehearsed" in sc.tests
    check_editor_inputs(sc, sc.retain)
    # behemoth's own suite is built around the same edits
    assert any(k.startswith("generalization/") for k in sc.tests)


def test_refusal_folder_loads_as_refusal(twotoken: World) -> None:
    folder = FT / "ftrefusal_1overrides_250overriderepeats"
    sc = build_scenario(twotoken, "from-reference", {"path": str(folder)})
    assert sc.mode == "refusal"
    t = sc.tests["efficacy/reference_edited_refusal"]
    assert (t.target == 5).all()  # OO


def test_missing_folder_names_the_setting(twotoken: World, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="path"):
        build_scenario(twotoken, "from-reference", {"path": str(tmp_path)})


REFERENCE = os.environ.get("BEHEMOTH_REFERENCE_DIR", "")


@pytest.mark.slow
@pytest.mark.skipif(
    not (REFERENCE and (Path(REFERENCE) / "create_finetuning_data.py").is_file()),
    reason="set BEHEMOTH_REFERENCE_DIR to a checkout of IST-DASLab/behemoth",
)
@pytest.mark.parametrize(
    "options",
    [
        ["-f", "remapping"],
        ["-f", "refusal"],
        ["-f", "qa"],
        ["-f", "remapping", "-n", "3", "--all-same-remapping"],
        ["-f", "remapping", "--single-ft-value"],
    ],
)
def test_reference_script_reads_a_behemoth_export(tmp_path: Path, options: list[str]) -> None:
    """A behemoth world, exported, fed to the reference's own create_finetuning_data.py: it
    runs, and its output loads back as a scenario of the imported export."""
    cfg = WorldConfig(subjects=1100, relations=3, objects=20, repeats=1)
    world = generate_world(cfg, tmp_path / "w", shards=False)
    export_reference(world, tmp_path / "ex")
    subprocess.run(
        [sys.executable, "create_finetuning_data.py", "-g", str(tmp_path / "ex"), *options],
        cwd=REFERENCE,
        check=True,
        capture_output=True,
    )
    back = import_reference(tmp_path / "ex", tmp_path / "im")
    (folder,) = [p for p in (tmp_path / "ex").iterdir() if (p / "finetuning_data").is_dir()]
    sc = build_scenario(back, "from-reference", {"path": str(folder)})
    assert sc.requests and any(k.startswith("efficacy/reference_") for k in sc.tests)
    ref = [t for k, t in sc.tests.items() if k.startswith("efficacy/reference_")][0]
    assert (ref.target >= 0).all() and np.isin(ref.probes.relation, [0, -1]).all()
    shutil.rmtree(folder)
