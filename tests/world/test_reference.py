"""Export to and import from the reference generator's layout (IST-DASLab/behemoth)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer

from behemoth.cli.main import main
from behemoth.errors import BehemothError
from behemoth.world.corpus import Corpus
from behemoth.world.reference import export_reference, import_reference, reference_twin
from behemoth.world.vocab import EOT
from tests.world.conftest import WorldFactory

ROUND_TRIPS = {
    "tiny": {},
    "nested": {"nested_objects": 4, "nested_upweight": 2},
    "nested_inverted": {"nested_objects": 4, "inversion_frac": 0.3},
    "nested_nonsense": {"nested_objects": 4, "template": "nonsense", "repeats": 7},
    "minority": {"minority_entity_frac": 0.2, "minority_frac": 0.3},
    "questions": {"questions_frac": 0.2, "questions_entity_frac": 0.5},
    "correlated_bio": {"correlated_pair": True, "correlation_strength": 0.9, "shuffle": False},
    "nonsense": {"template": "nonsense", "inversion_frac": 0.3, "repeats": 7},
    "two_token_subjects": {"max_subject_words": 12, "shard_units": 999},
}


def _text(export: Path) -> str:
    files = sorted(
        (export / "data").glob("full_text_*.txt"), key=lambda p: int(p.stem.rsplit("_", 1)[1])
    )
    return "".join(p.read_text(encoding="utf-8") for p in files)


@pytest.mark.parametrize("name", list(ROUND_TRIPS))
def test_export_then_import_round_trips_the_graph(
    world_factory: WorldFactory, tmp_path: Path, name: str
) -> None:
    world = world_factory(**ROUND_TRIPS[name])
    export_reference(world, tmp_path / "ex")
    back = import_reference(tmp_path / "ex", tmp_path / "im")
    g, h = world.graph, back.graph
    np.testing.assert_array_equal(h.objects, g.objects)
    np.testing.assert_array_equal(h.minority, g.minority)
    np.testing.assert_array_equal(h.nested_of, g.nested_of)
    np.testing.assert_array_equal(h.question_subjects, g.question_subjects)
    # args.json carries every option, so the config comes back too, in the reference's ids
    assert back.config == world.config.model_copy(update={"vocab": "reference"})
    _, _, twin, _ = reference_twin(world)
    n = min(twin.n_units, 500)
    np.testing.assert_array_equal(back.corpus.render_positions(0, n), twin.render_positions(0, n))
    assert back.meta["imported_from"]["path"] == str((tmp_path / "ex").resolve())
    assert back.meta["imported_from"]["notes"] == []


@pytest.mark.parametrize("name", ["tiny", "nonsense", "correlated_bio"])
def test_export_text_tokenizes_to_exactly_the_stream(
    world_factory: WorldFactory, tmp_path: Path, name: str
) -> None:
    world = world_factory(**ROUND_TRIPS[name])
    meta = export_reference(world, tmp_path / "ex", units_per_shard=997, chunk_units=101)
    _, vocab, twin, _ = reference_twin(world)
    stream = twin.render_positions(0, twin.n_units)
    files = list((tmp_path / "ex" / "data").glob("full_text_*.txt"))
    assert len(files) == -(-twin.n_units // 997)
    for f in files:  # whole documents per shard, spelled as the reference spells them
        text = f.read_text(encoding="utf-8")
        assert text.startswith(" ") and text.endswith(".<|endoftext|>")
    text = _text(tmp_path / "ex")
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "ex" / "metadata"))
    ids = tok(text, add_special_tokens=False)["input_ids"]
    np.testing.assert_array_equal(np.asarray(ids), stream)
    # every word is the 4-digit number of its token id
    words = text.replace(".<|endoftext|>", " ").split()
    assert all(
        len(w) == 4 and w.isdigit() for w in words if w not in ("SS", "RR", "OO", "QQ", "AA")
    )
    sentences = int((stream == EOT).sum())
    assert meta["total_num_tokens"] == stream.size + sentences - len(files) + 1
    assert meta["graph_size"] == world.graph.objects.size


def test_export_streams_in_bounded_chunks(
    world_factory: WorldFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = world_factory()
    sizes: list[int] = []
    original = Corpus.render_positions

    def spy(self: Corpus, start: int, stop: int) -> np.ndarray:
        sizes.append(stop - start)
        return original(self, start, stop)

    monkeypatch.setattr(Corpus, "render_positions", spy)
    export_reference(world, tmp_path / "ex", chunk_units=256)
    assert max(sizes) <= 256 and sum(sizes) == world.corpus.n_units


def test_export_metadata_tokenizer_and_graph_file(
    world_factory: WorldFactory, tmp_path: Path
) -> None:
    world = world_factory(**ROUND_TRIPS["minority"])
    export_reference(world, tmp_path / "ex")
    meta_dir = tmp_path / "ex" / "metadata"
    tok = AutoTokenizer.from_pretrained(str(meta_dir))
    meta = json.loads((meta_dir / "metadata.json").read_text())
    _, vocab, _, _ = reference_twin(world)
    assert vocab.ref is not None and meta["vocab_size"] == vocab.ref.vocab_size
    assert len(tok) == vocab.size  # the reference's ids, then our forgetting placeholders
    lines = (meta_dir / "relationship_graph.txt").read_text().splitlines()
    g = world.graph
    assert len(lines) == g.objects.size
    for line in lines:
        s, r, o, m, n = line.split(" ")
        s_, r_ = int(s), int(r)
        assert int(o) == g.objects[s_, r_] and n == "None"
        assert m == ("None" if g.minority[s_, r_] < 0 else str(g.minority[s_, r_]))


def test_validation_files_hold_every_probe(world_factory: WorldFactory, tmp_path: Path) -> None:
    world = world_factory(**ROUND_TRIPS["questions"], inversion_frac=0.2)
    export_reference(world, tmp_path / "ex")
    _, _, _, probes = reference_twin(world)
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "ex" / "metadata"))
    files = {
        "sro": "validations/sro.txt",
        "rso": "validations/rso.txt",
        "question": "questions/default.txt",
        "question_new": "questions/default_new.txt",
    }
    for set_name, rel in files.items():
        p = probes[set_name]
        lines = (tmp_path / "ex" / rel).read_text(encoding="utf-8").split("\n")
        assert len(lines) == len(p)
        for i in (0, len(p) // 2, len(p) - 1):
            prompt, answer = lines[i].split("\t")
            ids = tok(prompt + answer, add_special_tokens=False)["input_ids"]
            expect = np.concatenate([p.prompt(i), [p.answer[i]]])
            assert expect[0] == EOT
            np.testing.assert_array_equal(ids, expect[1:])
            assert tok(answer, add_special_tokens=False)["input_ids"][-1] == p.answer[i]


def test_nested_export_uses_reference_file_names(
    world_factory: WorldFactory, tmp_path: Path
) -> None:
    world = world_factory(**ROUND_TRIPS["nested"])
    export_reference(world, tmp_path / "ex")
    names = {p.name for p in (tmp_path / "ex" / "validations").iterdir()}
    assert {
        "subject_object_sro.txt",
        "subject_nested_object_sro.txt",
        "object_nested_object_sro.txt",
    } <= names
    ono = (tmp_path / "ex" / "validations" / "object_nested_object_sro.txt").read_text()
    assert len(ono.split("\n")) == world.graph.nested_of.size


def _reference_dir(root: Path, lines: list[str], **meta: object) -> Path:
    (root / "metadata").mkdir(parents=True)
    (root / "metadata" / "relationship_graph.txt").write_text("\n".join(lines) + "\n")
    if meta:
        (root / "metadata" / "metadata.json").write_text(json.dumps(meta))
    return root


def test_import_hand_written_reference_graph(tmp_path: Path) -> None:
    # 3 subjects x 2 relations, nested (M=2): object 3 of relation 1 never appears
    lines = [
        "0 0 1 None 0",
        "0 1 0 None 1",
        "1 0 2 None 1",
        "1 1 2 None 0",
        "2 0 1 None 0",
        "2 1 1 None 1",
    ]
    src = _reference_dir(tmp_path / "ref", lines, graph_size=6, vocab_size=300, total_num_tokens=1)
    (src / "metadata" / "args.json").write_text(json.dumps({"objects": 4, "repeats": 3}))
    world = import_reference(src, tmp_path / "w")
    cfg, g = world.config, world.graph
    assert (cfg.subjects, cfg.relations, cfg.objects, cfg.nested_objects) == (3, 2, 4, 2)
    assert cfg.repeats == 3
    np.testing.assert_array_equal(g.objects, [[1, 0], [2, 2], [1, 1]])
    np.testing.assert_array_equal(g.nested_objects(), [[0, 1], [1, 0], [0, 1]])
    assert (g.minority == -1).all()
    # f_1(3) was not in the file: it joins the group with room left, keeping groups equal
    for r in range(2):
        assert sorted(np.bincount(g.nested_of[r], minlength=2)) == [2, 2]
    assert world.meta["imported_from"]["notes"]
    assert world.probes["sro"].answer.size == 6
    assert (tmp_path / "w" / "reference" / "metadata.json").is_file()


def test_import_minority_without_args(tmp_path: Path) -> None:
    lines = ["0 0 1 3 None", "0 1 0 None None", "1 0 2 None None", "1 1 4 2 None"]
    world = import_reference(_reference_dir(tmp_path / "ref", lines), tmp_path / "w")
    assert world.config.objects == 5
    assert world.config.minority_entity_frac == 0.5
    np.testing.assert_array_equal(world.graph.minority, [[3, -1], [-1, 2]])


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["0 0 x None None"], "neither an integer nor None"),
        (["0 0 1 None None", "0 0 2 None None"], "has 2 edges"),
        (["0 0"], "2 fields"),
        (["0 0 1 None 0", "0 1 1 None None"], "nested object and others None"),
    ],
)
def test_import_rejects_malformed_graphs(tmp_path: Path, lines: list[str], message: str) -> None:
    with pytest.raises(BehemothError, match=message):
        import_reference(_reference_dir(tmp_path / "ref", lines), tmp_path / "w")
    assert not (tmp_path / "w").exists()


def test_import_without_graph_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ref" / "metadata").mkdir(parents=True)
    with pytest.raises(BehemothError, match="relationship_graph.txt"):
        import_reference(tmp_path / "ref", tmp_path / "w")
    code = main(["import-reference", str(tmp_path / "ref"), "--out", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "relationship_graph.txt" in err
    assert not (tmp_path / "w").exists()


def test_cli_export_and_import(
    world_factory: WorldFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = world_factory()
    ex, im = tmp_path / "ex", tmp_path / "im"
    assert main(["export-reference", str(world.path), "--out", str(ex)]) == 0
    assert main(["export-reference", str(world.path), "--out", str(ex)]) == 2  # no --force
    assert "already holds" in capsys.readouterr().err
    assert main(["export-reference", str(world.path), "--out", str(ex), "--force"]) == 0
    assert main(["import-reference", str(ex), "--out", str(im)]) == 0
    assert "imported from" in capsys.readouterr().out
