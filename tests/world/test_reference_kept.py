"""Import keeps every probe file the reference wrote, also those no probe set is written to
(issue 24 follow-up): a simple-repeats world imports again.

The fixture ``tests/fixtures/reference/simple_repeats/`` was written by the reference's own
``create_data.py`` (IST-DASLab/behemoth, commit 4bf6d13), run from its checkout as::

    python create_data.py -s 4 -r 1 -o 4 -n 2 --shuffle --phrase-creator simplerepeats \\
        --output-dir simple_repeats

(its data only: see the fixtures' README). Its ``validations/`` holds 432 files
``si*_sj*_ri*_rj*_oi_*.txt``, one per filler count, which no probe set of ours is written to:
they are kept verbatim (checksummed, not scored) and exported back byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import pytest

import behemoth.world.reference as reference
import behemoth.world.world as world_module
from behemoth.cli.main import main
from behemoth.errors import BehemothError
from behemoth.io import free_bytes
from behemoth.world.reference import export_reference, import_reference
from behemoth.world.world import World

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "reference"
SR = FIXTURES / "simple_repeats"
FIRST = "validations/si1_sj0_ri1_rj0_oi_1.txt"


def _files(root: Path) -> list[str]:
    return sorted(f"validations/{f.name}" for f in (root / "validations").iterdir())


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> World:
    return import_reference(SR, tmp_path_factory.mktemp("sr") / "w")


def _copy(to: Path) -> Path:
    shutil.copytree(SR, to)
    return to


def test_the_fixture_is_the_references_simple_repeats_layout() -> None:
    files = _files(SR)
    assert len(files) == 432  # 3 x 4 x 3 x 4 x 3 filler counts before the object
    assert sum(f.stat().st_size for f in SR.rglob("*") if f.is_file()) < 200_000
    assert json.loads((SR / "metadata" / "args.json").read_text())["phrase_creator"] == (
        "simplerepeats"
    )


def test_simple_repeats_world_imports_keeping_every_file(imported: World) -> None:
    info = imported.meta["imported_from"]
    assert imported.config.template == "simple_repeats"
    assert info["kept_files"] == _files(SR)
    assert info["probe_files"] == [] and info["notes"] == []
    # kept verbatim under reference/, every one recorded with its SHA-256 like the world's files
    for rel in info["kept_files"]:
        data = (SR / rel).read_bytes()
        assert (imported.path / "reference" / rel).read_bytes() == data, rel
        assert imported.meta["files"][f"reference/{rel}"] == hashlib.sha256(data).hexdigest()
    # and not scored: the world's probe sets are those of a simple-repeats world, no more
    assert set(imported.probes) == {"simple_repeats", "sro", "qa_new", "question_new"}


def test_one_log_line_counts_the_kept_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="behemoth.world.reference"):
        import_reference(SR, tmp_path / "w")
    kept = [r.getMessage() for r in caplog.records if "verbatim" in r.getMessage()]
    assert len(kept) == 1 and "\n" not in kept[0]
    assert kept[0].startswith("kept 432 of the reference's probe files verbatim")
    assert "not scored" in kept[0] and FIRST in kept[0]
    # a world without such files says nothing of the kind
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="behemoth.world.reference"):
        import_reference(FIXTURES / "iid", tmp_path / "iid")
    assert not any("verbatim" in r.getMessage() for r in caplog.records)


def test_export_gives_every_kept_file_back_byte_identical(imported: World, tmp_path: Path) -> None:
    export_reference(World.load(imported.path), tmp_path / "ex")
    for rel in _files(SR):
        assert (tmp_path / "ex" / rel).read_bytes() == (SR / rel).read_bytes(), rel
    # and the export imports again: the same world, the same files kept
    back = import_reference(tmp_path / "ex", tmp_path / "back")
    assert back.fingerprint == imported.fingerprint
    assert back.meta["imported_from"]["kept_files"] == _files(SR)
    assert set(back.probes) == set(imported.probes)


def test_the_world_loads_with_checksums_and_a_damaged_kept_file_is_refused(
    imported: World, tmp_path: Path
) -> None:
    world = World.load(imported.path)  # every recorded file hashed, the 432 kept ones too
    assert len([k for k in world.meta["files"] if k.startswith("reference/validations/")]) == 432
    copy = tmp_path / "w"
    shutil.copytree(imported.path, copy)
    f = copy / "reference" / FIRST
    data = bytearray(f.read_bytes())
    data[-1] = ord("9") if data[-1] != ord("9") else ord("8")  # another answer, same size
    f.write_bytes(bytes(data))
    with pytest.raises(BehemothError, match=r"si1_sj0_ri1_rj0_oi_1\.txt is not the file"):
        World.load(copy)
    f.unlink()
    with pytest.raises(BehemothError, match=r"si1_sj0_ri1_rj0_oi_1\.txt is missing"):
        World.load(copy)


def test_export_refuses_a_kept_file_world_json_does_not_record(
    imported: World, tmp_path: Path
) -> None:
    copy = tmp_path / "w"
    shutil.copytree(imported.path, copy)
    (copy / "reference" / "validations" / "planted.txt").write_text(" SS 0085\t 0092")
    world = World.load(copy)  # unrecorded files are never read by a stage...
    with pytest.raises(BehemothError, match=r"planted\.txt is neither a probe file"):
        export_reference(world, tmp_path / "ex")  # ...nor exported
    assert not (tmp_path / "ex").exists()


def test_cli_import_and_export_of_a_simple_repeats_world(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import-reference", str(SR), "--out", str(tmp_path / "w")]) == 0
    assert "simple_repeats" in capsys.readouterr().out
    assert main(["export-reference", str(tmp_path / "w"), "--out", str(tmp_path / "ex")]) == 0
    assert all((tmp_path / "ex" / r).read_bytes() == (SR / r).read_bytes() for r in _files(SR))


def test_bad_kept_files_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    """A file no set is written to is kept only if it is a regular, UTF-8 file of a size a
    probe file of this world can have."""
    src = _copy(tmp_path / "ref")
    odd = src / "validations" / "odd.txt"
    odd.write_bytes(b" SS 0085\t \xff\xfe")
    with pytest.raises(BehemothError, match=r"odd\.txt is not UTF-8 text"):
        import_reference(src, tmp_path / "w")
    odd.write_bytes(b" 1106 SS 0085 1107 RR 0089 1108 OO\t 0092\n" * 20_000)
    with pytest.raises(BehemothError, match=r"odd\.txt has [\d,]+ bytes, more than 4 times"):
        import_reference(src, tmp_path / "w")
    odd.unlink()
    os.mkfifo(odd)  # never opened: reading a pipe would block
    with pytest.raises(BehemothError, match=r"odd\.txt is no probe file \(not a regular file"):
        import_reference(src, tmp_path / "w")
    odd.unlink()
    odd.symlink_to(SR / FIRST)
    with pytest.raises(BehemothError, match=r"odd\.txt is a symbolic link"):
        import_reference(src, tmp_path / "w")
    assert not (tmp_path / "w").exists()


def test_kept_files_that_do_not_fit_the_disk_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reference, "free_bytes", lambda out: (tmp_path, 10_000))
    with pytest.raises(BehemothError, match=r"^--out: the import keeps 43\d of the reference's"):
        import_reference(SR, tmp_path / "w")
    assert not (tmp_path / "w").exists()


def test_free_bytes_walks_up_to_the_existing_folder(tmp_path: Path) -> None:
    where, free = free_bytes(tmp_path / "a" / "b" / "c")
    assert where == tmp_path.absolute()
    assert free == shutil.disk_usage(tmp_path).free
    assert free_bytes(tmp_path)[0] == tmp_path.absolute()


def test_both_disk_checks_use_free_bytes(
    imported: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shards (generate) and text (export) are refused by the same free-space figure."""
    full = lambda out: (tmp_path, 0)  # noqa: E731
    monkeypatch.setattr(world_module, "free_bytes", full)
    monkeypatch.setattr(reference, "free_bytes", full)
    with pytest.raises(BehemothError, match=r"^repeats: the corpus shards would take"):
        world_module.check_disk(imported.corpus, tmp_path / "o")
    with pytest.raises(BehemothError, match=r"^--out: the export would write"):
        export_reference(imported, tmp_path / "ex")
    assert not (tmp_path / "ex").exists()


def test_a_kept_file_of_any_name_is_given_back_and_logged_on_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "ref"
    shutil.copytree(FIXTURES / "iid", src)
    name = os.fsdecode(b"\xff odd\nname")
    (src / "validations" / name).write_bytes(b"kept as it is")
    with caplog.at_level(logging.INFO, logger="behemoth.world.reference"):
        world = import_reference(src, tmp_path / "w")
    line = next(r.getMessage() for r in caplog.records if "verbatim" in r.getMessage())
    assert line.startswith("kept 1 of") and "\n" not in line
    assert world.meta["imported_from"]["kept_files"] == [f"validations/{name}"]
    export_reference(World.load(world.path), tmp_path / "ex")
    assert (tmp_path / "ex" / "validations" / name).read_bytes() == b"kept as it is"
