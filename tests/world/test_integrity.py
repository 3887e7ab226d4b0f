"""Issue 24: a world's integrity cannot be switched off.

Checksums are mandatory in world.json (deleting them refuses the world unless a person marks it
legacy), every shard's size and SHA-256 is recorded and checked when training reads the shards,
and a world.json cannot point its checksums outside the world."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from behemoth.errors import BehemothError
from behemoth.world import World
from behemoth.world.shards import verify_shards
from behemoth.world.world import SHARD_INDEX


@pytest.fixture
def world_copy(tmp_path: Path, tiny_world: World) -> Path:
    w = tmp_path / "w"
    shutil.copytree(tiny_world.path, w)
    return w


def _edit_meta(w: Path, fn: object) -> None:
    meta = json.loads((w / "world.json").read_text())
    fn(meta)  # type: ignore[operator]
    (w / "world.json").write_text(json.dumps(meta))


def test_written_world_records_every_checksum(tiny_world: World) -> None:
    files = tiny_world.meta["files"]
    assert SHARD_INDEX in files and "graph.parquet" in files
    index = json.loads((tiny_world.path / SHARD_INDEX).read_text())
    for s in index["shards"]:
        f = tiny_world.path / "shards" / s["file"]
        assert s["bytes"] == f.stat().st_size == s["tokens"] * np.dtype(index["dtype"]).itemsize
        assert len(s["sha256"]) == 64


def test_deleting_the_checksums_refuses_the_world(world_copy: Path) -> None:
    _edit_meta(world_copy, lambda m: m.pop("files"))
    with pytest.raises(BehemothError, match=r"^WORLD: .*records no checksums.*legacy"):
        World.load(world_copy)
    _edit_meta(world_copy, lambda m: m.update(files={"graph.parquet": "0" * 64}))
    with pytest.raises(BehemothError, match="records no checksums"):
        World.load(world_copy)  # some deleted: refused just the same


def test_a_legacy_world_loads_with_a_warning(
    world_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _edit_meta(world_copy, lambda m: (m.pop("files"), m.update(legacy=True)))
    with caplog.at_level(logging.WARNING):
        world = World.load(world_copy)
    assert world.fingerprint and "legacy" in caplog.text


def test_another_worlds_graph_is_refused(world_copy: Path, tmp_path: Path) -> None:
    from tests.conftest import make_world

    other = make_world(tmp_path / "o", seed=5)
    shutil.copyfile(other.path / "graph.parquet", world_copy / "graph.parquet")
    with pytest.raises(BehemothError, match="graph.parquet is not the file"):
        World.load(world_copy)


def test_checksums_never_point_outside(world_copy: Path) -> None:
    _edit_meta(world_copy, lambda m: m["files"].update({"../../etc/passwd": "0" * 64}))
    with pytest.raises(BehemothError, match="no file of a world"):
        World.load(world_copy)


def test_a_changed_shard_index_is_refused(world_copy: Path) -> None:
    idx = world_copy / SHARD_INDEX
    index = json.loads(idx.read_text())
    index["shards"][0]["sha256"] = "0" * 64
    idx.write_text(json.dumps(index))
    with pytest.raises(BehemothError, match="index.json is not the file"):
        World.load(world_copy)


def test_truncated_shard_is_refused_naming_it(world_copy: Path) -> None:
    world = World.load(world_copy)
    shard = sorted((world_copy / "shards").glob("train_*.bin"))[0]
    itemsize = np.dtype(json.loads((world_copy / SHARD_INDEX).read_text())["dtype"]).itemsize
    shard.write_bytes(shard.read_bytes()[: 500 * itemsize])
    with pytest.raises(BehemothError, match=f"^data: shard .*{shard.name} holds 1?[0-9,]+ bytes"):
        world.sampler(16, 2, source="shards")


def test_swapped_token_is_refused_naming_it(world_copy: Path) -> None:
    world = World.load(world_copy)
    shard = sorted((world_copy / "shards").glob("train_*.bin"))[-1]
    dtype = np.dtype(json.loads((world_copy / SHARD_INDEX).read_text())["dtype"])
    tokens = np.fromfile(shard, dtype=dtype)
    i = int(np.flatnonzero(tokens[1:] != tokens[:-1])[0])
    tokens[[i, i + 1]] = tokens[[i + 1, i]]  # same size, two tokens swapped
    tokens.tofile(shard)
    with pytest.raises(BehemothError, match=f"shard .*{shard.name} is not the file written"):
        world.sampler(16, 2, source="shards")
    assert world.sampler(16, 2, source="stream") is not None  # the stream does not read them


def test_index_without_checksums_is_refused(world_copy: Path) -> None:
    index = json.loads((world_copy / SHARD_INDEX).read_text())
    for s in index["shards"]:
        s.pop("sha256")
    with pytest.raises(BehemothError, match="records no size and checksum"):
        verify_shards(world_copy / "shards", index)
    index["shards"][0]["file"] = "../world.json"
    with pytest.raises(BehemothError, match="names no shard file"):
        verify_shards(world_copy / "shards", index)


def test_intact_shards_train(world_copy: Path) -> None:
    batch = World.load(world_copy).sampler(16, 2, source="shards").next_batch()
    assert batch.shape == (2, 16)


def test_reference_import_never_follows_links(tmp_path: Path) -> None:
    from behemoth.world.reference import import_reference

    fixture = Path(__file__).parent.parent / "fixtures" / "reference" / "iid"
    src = tmp_path / "ref"
    shutil.copytree(fixture, src)
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0")
    (src / "validations" / "passwd.txt").symlink_to(secret)
    with pytest.raises(BehemothError, match=r"^DIR: .*passwd.txt is a symbolic link"):
        import_reference(src, tmp_path / "out")
    (src / "validations" / "passwd.txt").unlink()
    shutil.move(src / "validations", tmp_path / "v")
    (src / "validations").symlink_to(tmp_path / "v")
    with pytest.raises(BehemothError, match=r"^DIR: .*validations is a symbolic link"):
        import_reference(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()
