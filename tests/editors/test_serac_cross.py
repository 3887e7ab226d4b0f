"""SERAC's cross-encoder scope classifier: the comparison head reads the edit side and the query
side of ``edit [SEP] query`` apart; networks saved before it (format 1, one mean over the pair)
still load; a short training separates the hard negatives the one-mean head let through."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from behemoth.editors.serac import SeracNets, SeracNetsConfig, train_nets
from behemoth.editors.serac.nets import PairHead, halves
from behemoth.errors import BehemothError
from behemoth.world import World

SMALL = {"variant": "cross", "width": 32, "scratch_rows": 256, "steps": 1}
STEPS = 250  # the slow test's training steps (~45-60 s on one thread; 150 are too few)


def _nets(world: World, **kw: object) -> SeracNets:
    facts = np.array([[s, r] for s in range(4) for r in range(2)])
    cfg = SeracNetsConfig.from_dict({**SMALL, **kw})
    return SeracNets.build(cfg, world.vocab.size, world.fingerprint, facts).eval()


def test_halves_split_at_the_separator() -> None:
    sep = 9
    ids = torch.tensor([[1, 2, sep, 3, 4, 0], [5, sep, 6, 7, 8, 2]])
    pad = torch.tensor([[False] * 5 + [True], [False] * 6])
    edit_out, query_out = halves(ids, pad, sep)
    assert (~edit_out).tolist() == [[1, 1, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]]
    assert (~query_out).tolist() == [[0, 0, 0, 1, 1, 0], [0, 0, 1, 1, 1, 1]]


def test_cross_logit_compares_the_two_sides(tiny_world: World) -> None:
    """The logit is the head's comparison of the edit side's mean state with the query side's
    (one mean over the whole pair, format 1, is a different function and fails this)."""
    nets = _nets(tiny_world)
    cls = nets.classifier
    assert isinstance(cls.head, PairHead)
    sep = nets.sep
    ids = torch.tensor([[10, 11, 12, sep, 10, 13, 12, 0], [20, 21, sep, 20, 21, 22, 23, 24]])
    pad = torch.tensor([[False] * 7 + [True], [False] * 8])
    with torch.no_grad():
        h = cls.encoder(ids, pad)
        u = (h[0, :3].mean(0), h[1, :2].mean(0))
        v = (h[0, 4:7].mean(0), h[1, 3:].mean(0))
        want = cls.head(torch.stack(u), torch.stack(v))
        assert torch.allclose(cls.cross_logit(ids, pad), want, atol=1e-5)
        # agreement is a feature: the same side twice scores differently from two sides
        x, y = torch.randn(3, 32), torch.randn(3, 32)
        assert not torch.allclose(cls.head(x, y), cls.head(x, x))


def test_format_1_cross_nets_load_with_their_mean_head(tiny_world: World, tmp_path: Path) -> None:
    old = _nets(tiny_world, cross_head="mean")
    old.save(tmp_path)
    meta = json.loads((tmp_path / "serac.json").read_text())
    assert meta["version"] == 2
    del meta["version"], meta["config"]["cross_head"]  # as format 1 wrote it
    (tmp_path / "serac.json").write_text(json.dumps(meta))
    back = SeracNets.load(tmp_path)
    assert back.config.cross_head == "mean" and not isinstance(back.classifier.head, PairHead)
    assert all(torch.equal(v, back.tensors()[k]) for k, v in old.tensors().items())
    meta["version"] = 3
    (tmp_path / "serac.json").write_text(json.dumps(meta))
    with pytest.raises(
        BehemothError, match=r"format version 3.*retrain with `behemoth train-serac`"
    ):
        SeracNets.load(tmp_path)


@pytest.mark.slow
def test_short_training_rejects_same_relation_other_subject(tiny_world: World) -> None:
    """The one-mean head passed almost every query of the edit's relation about another subject
    (tiny world, 400 steps, held-out subjects: false-positive rate 0.996 on them, precision
    0.619); the comparison head must reject them after a short training (250 steps: 0.023,
    precision 0.983, recall 1.000)."""
    S, R = tiny_world.graph.objects.shape
    facts = np.array([[s, r] for s in range(S) for r in range(R)])
    cfg = SeracNetsConfig.from_dict({"variant": "cross", "steps": STEPS})
    held = train_nets(tiny_world, facts, cfg, progress=False).metrics["held_out_subjects"]
    assert held["false_positive_rate_same_relation"] <= 0.1
    assert held["precision"] >= 0.95 and held["recall"] >= 0.95


def test_bit_flipped_networks_are_refused_naming_the_file(
    tiny_world: World, tmp_path: Path
) -> None:
    """Issue 24: ``serac.json`` records the weights' SHA-256 and loading checks it."""
    from behemoth.editors.serac.artifact import WEIGHTS

    _nets(tiny_world, cross_head="mean").save(tmp_path)
    f = tmp_path / WEIGHTS
    data = bytearray(f.read_bytes())
    data[-5] ^= 0x01  # one bit of one weight: still a readable safetensors file
    f.write_bytes(bytes(data))
    with pytest.raises(BehemothError) as err:
        SeracNets.load(tmp_path)
    msg = str(err.value)
    assert str(f) in msg and "SHA-256" in msg and "train-serac" in msg
    assert len(msg.splitlines()) == 1
    meta = json.loads((tmp_path / "serac.json").read_text())
    del meta["weights_sha256"]
    (tmp_path / "serac.json").write_text(json.dumps(meta))
    with pytest.raises(BehemothError, match="records no weights_sha256"):
        SeracNets.load(tmp_path)
