"""`behemoth generate` through the CLI entry point: bad input is one line, exit 2, no output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from behemoth.cli.main import main
from behemoth.errors import BehemothError
from behemoth.world import World


def leftovers(parent: Path, name: str) -> list[str]:
    """Anything the run left next to its --out: the directory itself or its temp siblings."""
    return sorted(
        p.name for p in parent.iterdir() if p.name == name or p.name.startswith(f".{name}.")
    )


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["generate", *args])
    out, err = capsys.readouterr()
    return rc, out, err


BAD = [
    ("subjects-zero", ["--preset", "tiny", "--set", "subjects=0"], "subjects"),
    ("relations-negative", ["--preset", "tiny", "--set", "relations=-1"], "relations"),
    ("objects-zero", ["--preset", "tiny", "--set", "objects=0"], "objects"),
    ("repeats-zero", ["--preset", "tiny", "--set", "repeats=0"], "repeats"),
    ("nested-not-divisor", ["--preset", "tiny", "--set", "nested_objects=3"], "nested_objects"),
    (
        "anti-correlation",
        ["--preset", "correlated", "--set", "correlation_strength=0.04"],
        "correlation_strength",
    ),
    (
        "binarized-at-chance",
        [
            "--preset",
            "correlated",
            "--set",
            "binarize_first=true",
            "--set",
            "correlation_strength=0.5",
        ],
        "correlation_strength",
    ),
    ("correlated-one-relation", ["--preset", "correlated", "--set", "relations=1"], "relations"),
    ("correlated-one-object", ["--preset", "correlated", "--set", "objects=1"], "objects"),
    (
        "minority-nested",
        ["--preset", "nested", "--set", "minority_entity_frac=0.1"],
        "minority_entity_frac",
    ),
    (
        "minority-correlated",
        ["--preset", "correlated", "--set", "minority_entity_frac=0.1"],
        "minority_entity_frac",
    ),
    (
        "questions-no-subjects",
        ["--preset", "questions", "--set", "questions_entity_frac=0"],
        "questions_entity_frac",
    ),
    (
        "simple-repeats-inverted",
        ["--preset", "tiny", "--set", "template=simple_repeats", "--set", "inversion_frac=0.2"],
        "inversion_frac",
    ),
    ("binarize-alone", ["--preset", "tiny", "--set", "binarize_first=true"], "binarize_first"),
    ("unknown-key", ["--preset", "tiny", "--set", "subject=5"], "subject"),
    ("bad-set-syntax", ["--preset", "tiny", "--set", "subjects"], "--set"),
    ("unknown-preset", ["--preset", "tinny"], "--preset"),
    ("negative-seed", ["--preset", "tiny", "--seed", "-4"], "seed"),
]


@pytest.mark.parametrize(("args", "field"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_exit_2_and_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], field: str
) -> None:
    out = tmp_path / "world"
    rc, stdout, stderr = run(capsys, *args, "--out", str(out))
    assert rc == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"behemoth: error: {field}: ")
    assert stdout == ""
    assert leftovers(tmp_path, "world") == []


def test_unknown_key_and_preset_give_hints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, err = run(capsys, "--preset", "tiny", "--set", "subject=5", "--out", str(tmp_path / "a"))
    assert "did you mean 'subjects'?" in err
    _, _, err = run(capsys, "--preset", "nestd", "--out", str(tmp_path / "a"))
    assert "did you mean 'nested'?" in err


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("subjects: 10\nrelations: [1, 2\n", "--config"),
        ("subjects: 10\nobjects: 9\nnested_objects: 2\n", "nested_objects"),
        ("- 1\n", "--config"),
        ("subjcts: 10\n", "subjcts"),
    ],
    ids=["malformed", "not-divisor", "not-a-mapping", "unknown-key"],
)
def test_bad_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, field: str
) -> None:
    cfg = tmp_path / "w.yaml"
    cfg.write_text(text)
    rc, stdout, stderr = run(capsys, "--config", str(cfg), "--out", str(tmp_path / "world"))
    assert rc == 2
    assert len(stderr.strip().splitlines()) == 1
    assert stderr.startswith(f"behemoth: error: {field}: ")
    assert leftovers(tmp_path, "world") == []


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, stderr = run(
        capsys, "--config", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "world")
    )
    assert rc == 2 and "--config" in stderr and "does not exist" in stderr
    assert leftovers(tmp_path, "world") == []


def test_preset_and_config_are_exclusive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as e:
        main(["generate", "--preset", "tiny", "--config", "x.yaml", "--out", str(tmp_path / "w")])
    assert e.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_generate_then_refuse_a_different_world_then_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "world"
    rc, stdout, _ = run(capsys, "--preset", "tiny", "--set", "subjects=30", "--out", str(out))
    assert rc == 0
    assert "30 subjects x 4 relations x 20 objects" in stdout
    first = World.load(out)
    assert first.config.subjects == 30 and (out / "shards" / "index.json").is_file()
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    # A different world (another seed) must not replace it, with or without shards.
    for extra in ([], ["--no-shards"]):
        rc, stdout, stderr = run(
            capsys,
            "--preset",
            "tiny",
            "--set",
            "subjects=30",
            "--seed",
            "7",
            "--out",
            str(out),
            *extra,
        )
        assert rc == 2
        lines = stderr.strip().splitlines()
        assert len(lines) == 1, stderr
        assert lines[0].startswith("behemoth: error: --out: ") and "--force" in lines[0]
        assert stdout == ""
        assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
        assert leftovers(tmp_path, "world") == ["world"]

    rc, stdout, _ = run(
        capsys,
        "--preset",
        "tiny",
        "--set",
        "subjects=30",
        "--seed",
        "7",
        "--out",
        str(out),
        "--force",
    )
    assert rc == 0
    second = World.load(out)
    assert second.config.seed == 7 and second.fingerprint != first.fingerprint
    assert leftovers(tmp_path, "world") == ["world"]


def test_out_with_other_files_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    rc, _, stderr = run(capsys, "--preset", "tiny", "--no-shards", "--out", str(out))
    assert rc == 2 and "--out" in stderr and "--force" in stderr
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert leftovers(tmp_path, "mine") == ["mine"]


def test_empty_out_directory_is_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    rc, _, _ = run(capsys, "--preset", "tiny", "--no-shards", "--out", str(out))
    assert rc == 0
    assert (out / "world.json").is_file() and not (out / "shards").exists()
    meta = json.loads((out / "world.json").read_text())
    assert meta["config"]["seed"] == 0 and meta["counts"]["tokens_written"] is None
    assert leftovers(tmp_path, "empty") == ["empty"]


def test_config_file_with_overrides_and_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "w.yaml"
    cfg.write_text("subjects: 12\nrelations: 2\nobjects: 6\nrepeats: 3\nnested_objects: 2\n")
    out = tmp_path / "w"
    rc, stdout, _ = run(
        capsys,
        "--config",
        str(cfg),
        "--set",
        "objects=8",
        "--seed",
        "11",
        "--out",
        str(out),
        "--no-shards",
    )
    assert rc == 0
    w = World.load(out)
    assert (w.config.subjects, w.config.objects, w.config.nested_objects, w.config.seed) == (
        12,
        8,
        2,
        11,
    )
    assert "nested" in stdout


def test_out_that_is_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "world"
    out.write_text("not a directory")
    rc, _, stderr = run(capsys, "--preset", "tiny", "--out", str(out))
    assert rc == 2 and stderr.startswith("behemoth: error: --out: ")
    assert out.read_text() == "not a directory"
    assert leftovers(tmp_path, "world") == ["world"]


def test_failed_generation_leaves_the_old_world_and_no_temp_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "world"
    assert run(capsys, "--preset", "tiny", "--no-shards", "--out", str(out))[0] == 0
    before = files_of(out)

    def boom(*args: object, **kwargs: object) -> None:
        raise BehemothError("disk: simulated failure while writing shards")

    monkeypatch.setattr("behemoth.world.world.write_shards", boom)
    rc, _, stderr = run(capsys, "--preset", "tiny", "--seed", "5", "--out", str(out), "--force")
    assert rc == 2 and "simulated failure" in stderr
    assert files_of(out) == before
    assert leftovers(tmp_path, "world") == ["world"]


def test_same_world_again_is_left_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "world"
    assert run(capsys, "--preset", "tiny", "--no-shards", "--out", str(out))[0] == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    rc, stdout, _ = run(capsys, "--preset", "tiny", "--no-shards", "--out", str(out))
    assert rc == 0 and "100 subjects" in stdout
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def files_of(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }
