"""Import keeps every probe set the reference wrote (issue 24).

The fixture ``tests/fixtures/reference/nested_inverted/`` is a world with nested objects and
inversions written by the reference's own ``create_data.py`` (IST-DASLab/behemoth, commit
4bf6d13), run from its checkout as::

    python create_data.py -s 40 -r 2 -o 12 --num-nested-objects 3 -n 2 --shuffle -i 0.3 \\
        --output-dir nested_inverted

(its data only: see the fixtures' README). Besides the base order's files it writes
``validations/subject_nested_object_rso.txt`` and ``object_nested_object_rso.txt``, which an
import used to drop. A line of a fixed template's file that is not a probe of the graph is
refused, naming it; a probe file no probe set of the world is written to is kept verbatim
(tests/world/test_reference_kept.py), what is no regular file refused.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from behemoth.cli.main import main
from behemoth.errors import BehemothError
from behemoth.world.config import WorldConfig
from behemoth.world.graph import Graph, sample_graph
from behemoth.world.probes import ProbeSet, build_probes, nested_probe_templates, probe_templates
from behemoth.world.reference import export_reference, import_reference, validation_lines
from behemoth.world.vocab import AA, EOT, Vocabulary
from behemoth.world.world import World
from tests.world.conftest import WorldFactory

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "reference"
NESTED_RSO = {
    "nested_sno_rso": "validations/subject_nested_object_rso.txt",
    "nested_ono_rso": "validations/object_nested_object_rso.txt",
}


def _copy(name: str, to: Path) -> Path:
    shutil.copytree(FIXTURES / name, to)
    return to


def test_import_lists_the_nested_rso_probes(tmp_path: Path) -> None:
    world = import_reference(FIXTURES / "nested_inverted", tmp_path / "w")
    S, R, O = world.config.subjects, world.config.relations, world.config.objects
    assert world.config.inversion_frac == 0.3 and world.config.nested_objects == 3
    sno, ono = world.probes["nested_sno_rso"], world.probes["nested_ono_rso"]
    assert (sno.kind, sno.template, sno.trained, len(sno)) == ("S-NO", "rso", True, S * R)
    assert (ono.kind, ono.template, ono.trained, len(ono)) == ("O-NO", "rso", True, R * O)
    # the very lines the reference wrote: the same prompts and answers, no more, no fewer
    for name, rel in NESTED_RSO.items():
        theirs = (FIXTURES / "nested_inverted" / rel).read_text(encoding="utf-8").split("\n")
        assert set(validation_lines(world.probes[name], world.vocab.words)) == set(theirs), name
    files = world.meta["imported_from"]["probe_files"]
    assert set(NESTED_RSO.values()) <= set(files)
    assert len(files) == 6  # every file of its validations/
    assert sorted(files) == sorted(
        f"validations/{p.name}" for p in (FIXTURES / "nested_inverted" / "validations").iterdir()
    )


def test_export_gives_both_nested_rso_files_back_byte_identical(tmp_path: Path) -> None:
    src = FIXTURES / "nested_inverted"
    world = import_reference(src, tmp_path / "w")
    export_reference(world, tmp_path / "ex")
    for rel in [*NESTED_RSO.values(), "validations/subject_object_rso.txt"]:
        assert (tmp_path / "ex" / rel).read_bytes() == (src / rel).read_bytes(), rel
    # and the export imports again into the same probe sets
    back = import_reference(tmp_path / "ex", tmp_path / "back")
    assert set(back.probes) == set(world.probes)
    assert back.fingerprint == world.fingerprint


def test_nested_probe_sets_follow_the_reference_files() -> None:
    """Nested rso sets exist exactly where the reference writes nested rso files: with
    inversions, and always for the nonsense grammar (which writes both orders)."""
    cases = {
        ("sro", 0.0): [("", "sro", True)],
        ("sro", 0.3): [("", "sro", True), ("_rso", "rso", True)],
        ("nonsense", 0.0): [("", "nonsense_sro", True), ("_nonsense_rso", "nonsense_rso", False)],
        ("nonsense", 0.3): [("", "nonsense_sro", True), ("_nonsense_rso", "nonsense_rso", True)],
        ("simple_repeats", 0.0): [("", "simple_repeats", True)],
    }
    for (template, inv), expected in cases.items():
        cfg = WorldConfig(
            subjects=6, relations=2, objects=6, nested_objects=3, template=template,
            inversion_frac=inv,
        )  # fmt: skip
        assert nested_probe_templates(cfg) == expected, (template, inv)
        # the S-O statement probes of the same templates carry the same trained flags
        so = dict(probe_templates(cfg))
        assert all(so[t] == trained for _, t, trained in expected[1:])


def test_generated_nested_inverted_world_has_and_exports_the_rso_sets(
    world_factory: WorldFactory, tmp_path: Path
) -> None:
    world = world_factory(nested_objects=4, inversion_frac=0.3)
    assert {"nested_sno", "nested_ono", *NESTED_RSO} <= set(world.probes)
    # the base order's sets are unchanged by the new ones: same names, same rows
    plain = world_factory(nested_objects=4)
    assert set(plain.probes) == set(world.probes) - set(NESTED_RSO)
    export_reference(world, tmp_path / "ex")
    for name, rel in NESTED_RSO.items():
        lines = (tmp_path / "ex" / rel).read_text(encoding="utf-8").split("\n")
        assert len(lines) == len(world.probes[name])
    back = import_reference(tmp_path / "ex", tmp_path / "im")
    assert back.meta["imported_from"]["notes"] == []
    assert set(NESTED_RSO.values()) <= set(back.meta["imported_from"]["probe_files"])


def test_build_probes_rso_sets_are_the_rso_template() -> None:
    """nested_sno_rso is nested_sno's edges in the inverted order: same answers, prompts that
    open with the relation (RSO) instead of the subject."""
    cfg = WorldConfig(subjects=5, relations=2, objects=6, nested_objects=3, inversion_frac=0.5)
    graph: Graph = sample_graph(cfg)
    vocab = Vocabulary.from_config(cfg)
    probes = build_probes(cfg, graph, vocab)
    for kind in ("sno", "ono"):
        base, rso = probes[f"nested_{kind}"], probes[f"nested_{kind}_rso"]
        assert (rso.answer == base.answer).all() and (rso.relation == base.relation).all()
        assert (rso.object == base.object).all() and (rso.subject == base.subject).all()
        b, r = validation_lines(base, vocab.words), validation_lines(rso, vocab.words)
        assert all(x.startswith(" SS ") for x in b) and all(" RR " in x[:8] for x in r)


def test_unknown_probe_file_is_kept_verbatim(tmp_path: Path) -> None:
    """A file no set is written to (here beside sets that are) is kept and given back, not
    refused; the sets' files are checked as before."""
    src = _copy("nested_inverted", tmp_path / "ref")
    mystery = src / "validations" / "mystery.txt"
    mystery.write_text(" SS 0086 W0\t 0135", encoding="utf-8")
    (src / "questions").mkdir()
    (src / "questions" / "empty").write_bytes(b"")  # any name, even empty
    world = import_reference(src, tmp_path / "w")
    info = world.meta["imported_from"]
    assert info["kept_files"] == ["validations/mystery.txt", "questions/empty"]
    assert len(info["probe_files"]) == 6 and "validations/mystery.txt" not in info["probe_files"]
    assert "mystery" not in " ".join(world.probes)
    export_reference(World.load(world.path), tmp_path / "ex")
    assert (tmp_path / "ex" / "validations" / "mystery.txt").read_bytes() == mystery.read_bytes()
    assert (tmp_path / "ex" / "questions" / "empty").read_bytes() == b""


def test_entries_that_are_no_files_are_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _copy("iid", tmp_path / "ref")
    (src / "questions").mkdir()
    for k in range(3):
        (src / "questions" / f"extra{k}.txt").mkdir()
    with pytest.raises(BehemothError, match=r"extra0\.txt \(and 2 more\) is no probe file"):
        import_reference(src, tmp_path / "w")
    code = main(["import-reference", str(src), "--out", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "extra0.txt" in err and "move" in err
    assert not (tmp_path / "w").exists()


def test_a_folder_in_validations_is_refused(tmp_path: Path) -> None:
    src = _copy("nested_inverted", tmp_path / "ref")
    (src / "validations" / "sro.txt").mkdir()
    with pytest.raises(BehemothError, match=r"sro\.txt is no probe file"):
        import_reference(src, tmp_path / "w")


def test_a_line_of_another_world_is_refused(tmp_path: Path) -> None:
    """A nested rso file from another graph: its first line names an answer this graph does
    not have, so the file and the graph disagree (before, the file was silently dropped)."""
    src = _copy("nested_inverted", tmp_path / "ref")
    rel = src / NESTED_RSO["nested_sno_rso"]
    lines = rel.read_text(encoding="utf-8").split("\n")
    prompt, answer = lines[4].split("\t")
    other = f" {int(answer) + 1 if int(answer) % 3 else int(answer) - 1:04d}"
    lines[4] = f"{prompt}\t{other}"
    rel.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(BehemothError, match=r"subject_nested_object_rso\.txt, line 5: "):
        import_reference(src, tmp_path / "w")
    assert not (tmp_path / "w").exists()


def test_random_grammar_files_are_noted_not_refused(
    world_factory: WorldFactory, tmp_path: Path
) -> None:
    """Nonsense grammar probes hold random words: the reference's own draws differ from ours,
    and ours replace them, with a note naming the file."""
    world = world_factory(template="nonsense", inversion_frac=0.3, repeats=7)
    export_reference(world, tmp_path / "ex")
    f = tmp_path / "ex" / "validations" / "sro.txt"
    lines = f.read_text(encoding="utf-8").split("\n")
    words = lines[0].split(" ")
    words[1] = words[2]  # another grammar word before SS
    lines[0] = " ".join(words)
    f.write_text("\n".join(lines), encoding="utf-8")
    back = import_reference(tmp_path / "ex", tmp_path / "im")
    notes = back.meta["imported_from"]["notes"]
    assert any(n.startswith("validations/sro.txt: the reference's own random") for n in notes)
    assert "validations/sro.txt" in back.meta["imported_from"]["probe_files"]


def test_export_refuses_a_kept_file_without_its_probe_set(tmp_path: Path) -> None:
    """A file put under reference/ after the import (no set for it, no checksum in world.json)
    is named by the export, neither left out nor copied unchecked."""
    world = import_reference(FIXTURES / "nested", tmp_path / "w")
    kept = tmp_path / "w" / "reference" / "validations"
    shutil.copyfile(FIXTURES / "nested_inverted" / NESTED_RSO["nested_sno_rso"],
                    kept / "subject_nested_object_rso.txt")  # fmt: skip
    with pytest.raises(BehemothError, match=r"subject_nested_object_rso\.txt is neither .*import"):
        export_reference(world, tmp_path / "ex")
    assert not (tmp_path / "ex").exists()


def _plain_lines(p: ProbeSet, words: list[str]) -> list[str]:
    """validation_lines written row by row, the plain computation its vectorized form must
    reproduce."""
    out = []
    for i in range(len(p)):
        prompt = [int(t) for t in p.prompt(i)]
        if prompt and prompt[0] == EOT:
            prompt = prompt[1:]
        answer = [int(p.answer[i])]
        if len(prompt) >= 2 and prompt[-2] == AA:
            prompt, answer = prompt[:-1], prompt[-1:] + answer
        out.append(
            " " + " ".join(words[t] for t in prompt) + "\t " + " ".join(words[t] for t in answer)
        )
    return out


@pytest.mark.parametrize("name", ["questions", "twotoken", "nested_inverted", "minority"])
def test_validation_lines_equal_the_plain_computation(name: str, tmp_path: Path) -> None:
    world = import_reference(FIXTURES / name, tmp_path / "w")
    for p in world.probes.values():
        assert validation_lines(p, world.vocab.words) == _plain_lines(p, world.vocab.words)
    empty = world.probes["sro"].subset(np.array([], dtype=np.int64))
    assert validation_lines(empty, world.vocab.words) == []


def test_validation_lines_of_random_grammar_equal_the_plain_computation(
    world_factory: WorldFactory,
) -> None:
    world = world_factory(template="nonsense", inversion_frac=0.3, repeats=7)
    for p in world.probes.values():  # ragged rows: prompts of several lengths in one set
        assert validation_lines(p, world.vocab.words) == _plain_lines(p, world.vocab.words)
    assert len(set(world.probes["nonsense_sro"].lengths.tolist())) > 1


def test_a_pipe_or_an_oversized_or_binary_probe_file_is_refused(tmp_path: Path) -> None:
    """Hostile probe files: a named pipe is never opened (reading it would block), a file
    larger than twice its set's text is not read, bytes that are not UTF-8 are named."""
    src = _copy("nested_inverted", tmp_path / "ref")
    sro = src / "validations" / "subject_object_sro.txt"
    sro.unlink()
    os.mkfifo(sro)
    with pytest.raises(BehemothError, match=r"subject_object_sro\.txt is no probe file"):
        import_reference(src, tmp_path / "w")
    sro.unlink()
    line = (FIXTURES / "nested_inverted" / "validations" / "subject_object_sro.txt").read_text(
        encoding="utf-8"
    )
    sro.write_text("\n".join([line] * 10), encoding="utf-8")
    with pytest.raises(BehemothError, match=r"subject_object_sro\.txt has [\d,]+ bytes"):
        import_reference(src, tmp_path / "w")
    sro.write_bytes(b"\xff\xfe" + line.encode())
    with pytest.raises(BehemothError, match=r"subject_object_sro\.txt is not UTF-8"):
        import_reference(src, tmp_path / "w")
    assert not (tmp_path / "w").exists()
