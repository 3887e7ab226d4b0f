"""Training: the tiny model learns the tiny world; resume equals an uninterrupted run; the model
directory is a plain Hugging Face model; a model is refused on a world it was not trained on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from behemoth.errors import BehemothError, ConfigError, OutputExistsError
from behemoth.model import load_model, model_preset, read_model_meta, resolve_run, train_model
from behemoth.model.scoring import probe_accuracy
from behemoth.model.train import partial_dir
from behemoth.world import World
from tests.conftest import make_world


def test_tiny_model_learns_tiny_world(tiny_model: Path, tiny_world: World) -> None:
    model, meta = load_model(tiny_model, tiny_world)
    # measured again here, not read from the log: the written weights know the facts
    assert probe_accuracy(model, tiny_world.probes["sro"]) >= 0.95
    assert meta["result"]["final"]["sro"]["acc"] >= 0.95
    assert meta["world"]["fingerprint"] == tiny_world.fingerprint
    assert model.config.num_hidden_layers >= 4
    log = [json.loads(line) for line in (tiny_model / "train_log.jsonl").read_text().splitlines()]
    assert (
        log[0]["step"] == 0 and log[0]["sets"]["sro"]["acc"] < 0.3
    )  # it learned, it did not start there
    assert set(log[-1]["sets"]) == set(tiny_world.probes)
    assert (tiny_model / "learning_curve.png").stat().st_size > 1000
    assert not partial_dir(tiny_model).exists()


def test_export_loads_with_plain_transformers(tiny_model: Path, tiny_world: World) -> None:
    """A fresh interpreter that never imports behemoth loads model and tokenizer; same logits."""
    ids = tiny_world.sampler(16, 2).next_batch()
    code = f"""
import sys, json, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
m = AutoModelForCausalLM.from_pretrained({str(tiny_model)!r}).eval()
tok = AutoTokenizer.from_pretrained({str(tiny_model)!r})
ids = torch.tensor({ids.tolist()})
with torch.no_grad():
    logits = m(input_ids=ids).logits
assert "behemoth" not in sys.modules
print(json.dumps({{"logits": logits.tolist(), "text": tok.decode(ids[0]), "ids": tok(tok.decode(ids[0]), add_special_tokens=False)["input_ids"]}}))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    got = json.loads(r.stdout.strip().splitlines()[-1])
    model, _ = load_model(tiny_model)
    with torch.no_grad():
        want = model(input_ids=torch.from_numpy(ids)).logits
    np.testing.assert_allclose(np.array(got["logits"]), want.numpy(), rtol=1e-5, atol=1e-5)
    assert got["ids"] == ids[0].tolist()  # the tokenizer round-trips the training tokens


def test_model_world_mismatch_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    other = make_world(tmp_path, seed=1)
    with pytest.raises(BehemothError, match="use the model's own world") as e:
        load_model(tiny_model, other)
    assert "\n" not in str(e.value) and other.fingerprint in str(e.value)


def _short(**train: object) -> object:
    over = [f"train.{k}={v}" for k, v in train.items()]
    return resolve_run(model_preset("tiny"), None, over)


class _Kill(Exception):
    pass


@pytest.mark.parametrize(("kill_at", "embedding_lr_scale"), [(3, 1), (11, 1), (17, 1), (11, 30)])
def test_resume_equals_uninterrupted(
    tiny_world: World, tmp_path: Path, kill_at: int, embedding_lr_scale: float
) -> None:
    """Killed before the first checkpoint, right after one, and between two: resuming gives the
    same weights, byte for byte, and the same log (also with the input embedding's own
    optimizer group, as the demo preset trains)."""
    cfg = _short(
        embedding_lr_scale=embedding_lr_scale,
        batch_size=8,
        max_tokens=24 * 8 * 32,
        warmup_steps=4,
        eval_every=6,
        checkpoint_every=5,
        target_accuracy="null",
        eval_sets="[sro]",
    )
    straight = train_model(tiny_world, cfg, tmp_path / "straight", progress=False)

    def kill(step: int, info: dict[str, object]) -> None:
        if step == kill_at:
            raise _Kill

    out = tmp_path / "resumed"
    with pytest.raises(_Kill):
        train_model(tiny_world, cfg, out, progress=False, on_step=kill)
    assert not out.exists() and partial_dir(out).exists()
    with pytest.raises(OutputExistsError, match="--resume"):
        train_model(tiny_world, cfg, out, progress=False)
    train_model(tiny_world, None, out, resume=True, progress=False)
    assert (out / "model.safetensors").read_bytes() == (straight / "model.safetensors").read_bytes()
    assert (out / "train_log.jsonl").read_bytes() == (straight / "train_log.jsonl").read_bytes()
    assert (out / "behemoth_model.json").read_bytes() == (
        straight / "behemoth_model.json"
    ).read_bytes()
    assert not partial_dir(out).exists()


def test_resume_refuses_other_config_or_world(tiny_world: World, tmp_path: Path) -> None:
    cfg = _short(
        batch_size=8,
        max_tokens=20 * 8 * 32,
        warmup_steps=2,
        checkpoint_every=4,
        eval_every=100,
        target_accuracy="null",
        eval_sets="[sro]",
    )

    def kill(step: int, info: dict[str, object]) -> None:
        if step == 6:
            raise _Kill

    out = tmp_path / "m"
    with pytest.raises(_Kill):
        train_model(tiny_world, cfg, out, progress=False, on_step=kill)
    other_cfg = _short(
        batch_size=8,
        max_tokens=20 * 8 * 32,
        warmup_steps=2,
        checkpoint_every=4,
        eval_every=100,
        target_accuracy="null",
        eval_sets="[sro]",
        lr=1e-4,
    )
    with pytest.raises(ConfigError, match="differs"):
        train_model(tiny_world, other_cfg, out, resume=True, progress=False)
    with pytest.raises(BehemothError, match="trains on world"):
        train_model(make_world(tmp_path, seed=3), None, out, resume=True, progress=False)
    # --force starts over
    done = train_model(tiny_world, cfg, out, force=True, progress=False)
    assert read_model_meta(done)["result"]["steps"] == 20


def test_bad_probe_set_named(tiny_world: World, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="train.target_set"):
        train_model(tiny_world, _short(target_set="nested_sno"), tmp_path / "m", progress=False)


def test_shards_and_bf16_paths_train(tiny_world: World, tmp_path: Path) -> None:
    """Training from the written shards with bf16 autocast runs and lowers the loss; with
    ``eval_sets=[]`` only the target set is followed, and every set is scored at the end."""
    cfg = _short(
        data="shards",
        precision="bf16",
        max_tokens=12 * 64 * 32,
        warmup_steps=2,
        eval_every=6,
        target_accuracy="null",
        eval_sets="[]",
    )
    out = train_model(tiny_world, cfg, tmp_path / "m", progress=False)
    log = read_model_meta(out)["result"]
    assert log["steps"] == 12
    lines = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert lines[-1]["train_loss"] < lines[1]["train_loss"]
    # eval_sets=[]: the log follows the target set only; the result scores every set once
    assert all(set(x["sets"]) == {"sro"} for x in lines)
    assert set(log["final"]) == {n for n, p in tiny_world.probes.items() if len(p)}


class _Exploit:
    """Unpickling this would create a marker file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("name", ["checkpoint.pt", "checkpoint.safetensors"])
def test_pickled_checkpoint_is_refused(tiny_world: World, tmp_path: Path, name: str) -> None:
    """A crafted pickle in a partial run directory is never unpickled on --resume: the run is
    refused with one line naming the file, and the payload's code does not run."""
    import pickle

    from behemoth.model.checkpoint import CheckpointError

    cfg = _short(
        batch_size=8,
        max_tokens=20 * 8 * 32,
        warmup_steps=2,
        checkpoint_every=4,
        eval_every=100,
        target_accuracy="null",
        eval_sets="[sro]",
    )

    def kill(step: int, info: dict[str, object]) -> None:
        if step == 6:
            raise _Kill

    out = tmp_path / "m"
    with pytest.raises(_Kill):
        train_model(tiny_world, cfg, out, progress=False, on_step=kill)
    part = partial_dir(out)
    (part / "checkpoint.safetensors").unlink()
    marker = tmp_path / "pwned"
    (part / name).write_bytes(pickle.dumps({"model": _Exploit(str(marker))}))
    torch_payload = tmp_path / "payload.pt"
    torch.save({"x": _Exploit(str(marker))}, torch_payload)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match=name.replace(".", r"\.")) as err:
        train_model(tiny_world, None, out, resume=True, progress=False)
    assert "\n" not in str(err.value)
    assert not marker.exists()
    # the same through the CLI: exit 2, one line, no traceback, nothing executed
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "behemoth.cli.main",
            "train",
            str(tiny_world.path),
            "--out",
            str(out),
            "--resume",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not marker.exists()


def test_resume_of_a_finished_model_is_a_note_not_an_error(
    tiny_world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = _short(
        batch_size=8,
        max_tokens=4 * 8 * 32,
        warmup_steps=1,
        eval_every=100,
        target_accuracy="null",
        eval_sets="[sro]",
    )
    out = train_model(tiny_world, cfg, tmp_path / "m", progress=False)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    with caplog.at_level("INFO"):
        assert train_model(tiny_world, None, out, progress=False, resume=True) == out
    assert "nothing to resume" in caplog.text and "finished model" in caplog.text
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before  # untouched
