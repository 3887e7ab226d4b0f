"""LitGPT checkpoints <-> behemoth model directories.

The end-to-end test trains a tiny Pythia-shaped model with LitGPT itself (its ``GPT`` and
``Config``, a few AdamW steps on a reference world's token stream, CPU), saves it the way LitGPT
does (``lit_model.pth`` + ``model_config.yaml``), converts it, and checks that behemoth's scorer
gives LitGPT's own greedy answer on every probe of the world (and close logits).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from behemoth.cli.main import main
from behemoth.errors import BehemothError
from behemoth.model import load_model
from behemoth.model.litgpt import (
    convert_litgpt,
    export_litgpt,
    litgpt_to_model,
    model_to_litgpt,
    qkv_hf_to_litgpt,
    qkv_litgpt_to_hf,
)
from behemoth.model.scoring import score
from behemoth.world.reference import import_reference
from behemoth.world.world import World

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "reference"


def _litgpt():  # type: ignore[no-untyped-def]
    try:
        import litgpt.config
        import litgpt.model
    except ImportError:
        pytest.skip("litgpt is not importable; scripts/setup.sh installs it (see its last line)")
    return litgpt


def test_qkv_layouts_are_inverse_and_group_by_head() -> None:
    heads, hs, width = 3, 2, 5
    # LitGPT rows: [Q (heads*hs); K; V]; value = 100*part + 10*head + row within head
    part, head, row = np.meshgrid(np.arange(3), np.arange(heads), np.arange(hs), indexing="ij")
    lit = torch.tensor((100 * part + 10 * head + row).reshape(-1), dtype=torch.float32)
    hf = qkv_litgpt_to_hf(lit, heads)
    # HF rows per head: [q_h; k_h; v_h]
    assert hf[: 3 * hs].tolist() == [0, 1, 100, 101, 200, 201]
    assert torch.equal(qkv_hf_to_litgpt(hf, heads), lit)
    w = torch.randn(3 * heads * hs, width)
    assert torch.equal(qkv_hf_to_litgpt(qkv_litgpt_to_hf(w, heads), heads), w)


def _tiny_hf(parallel: bool = True) -> GPTNeoXForCausalLM:
    cfg = GPTNeoXConfig(
        vocab_size=96,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        use_parallel_residual=parallel,
        tie_word_embeddings=False,
        rope_parameters={
            "rope_type": "default",
            "rope_theta": 10000.0,
            "partial_rotary_factor": 0.25,
        },
    )
    torch.manual_seed(0)
    return GPTNeoXForCausalLM(cfg).eval()


def test_hf_to_litgpt_and_back_is_exact(tmp_path: Path) -> None:
    model = _tiny_hf(parallel=False)
    model.save_pretrained(str(tmp_path / "hf"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    export_litgpt(tmp_path / "hf", tmp_path / "lit")
    back, lit, _ = litgpt_to_model(tmp_path / "lit")
    assert lit["parallel_residual"] is False and lit["padded_vocab_size"] == 96
    for k, v in back.state_dict().items():
        assert torch.equal(v, before[k]), k
    x = torch.randint(0, 96, (2, 7))
    assert torch.equal(back(x).logits, model(x).logits)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # untouched


def test_bad_checkpoints_fail_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(BehemothError, match="lit_model.pth"):
        litgpt_to_model(tmp_path)
    lit, state = model_to_litgpt(_tiny_hf(), None, "x")
    (tmp_path / "model_config.yaml").write_text(
        "\n".join(f"{k}: {v}" for k, v in {**lit, "n_query_groups": 2}.items())
    )
    torch.save(state, tmp_path / "lit_model.pth")
    with pytest.raises(BehemothError, match="n_query_groups"):
        litgpt_to_model(tmp_path)
    torch.save({"model": state, "code": _Unpicklable()}, tmp_path / "lit_model.pth")
    with pytest.raises(BehemothError, match="tensors only"):
        litgpt_to_model(tmp_path)


class _Unpicklable:
    """An object ``weights_only`` loading refuses."""


@pytest.mark.slow
def test_litgpt_trained_model_gives_litgpt_answers_on_every_probe(tmp_path: Path) -> None:
    litgpt = _litgpt()
    from litgpt.utils import save_config

    world = import_reference(FIXTURES / "iid", tmp_path / "world")
    config = litgpt.config.Config.from_name(
        "pythia-14m",
        n_layer=2,
        n_embd=64,
        n_head=4,
        intermediate_size=256,
        block_size=64,
        vocab_size=world.vocab_size,
        padding_multiple=64,
        padded_vocab_size=None,
    )
    torch.manual_seed(0)
    gpt = litgpt.model.GPT(config)
    opt = torch.optim.AdamW(gpt.parameters(), lr=3e-3)
    sampler = world.sampler(seq_len=48, batch_size=16)
    gpt.train()
    for _ in range(30):
        batch = torch.from_numpy(sampler.next_batch().astype(np.int64))
        logits = gpt(batch[:, :-1])
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1)
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    gpt.eval()
    ckpt = tmp_path / "litgpt" / "final"
    ckpt.mkdir(parents=True)
    torch.save({"model": gpt.state_dict(), "iter_num": 30}, ckpt / "lit_model.pth")
    save_config(config, ckpt)

    out = tmp_path / "converted"
    assert main(["convert-litgpt", str(ckpt), "--world", str(world.path), "--out", str(out)]) == 0
    model, meta = load_model(out, World.load(world.path))
    assert meta["config"]["litgpt"]["padded_vocab_size"] == config.padded_vocab_size
    n = 0
    for name, probes in world.probes.items():
        ours = score(model, probes, targets=probes.answer)
        with torch.no_grad():
            for rows, mat in probes.batches():
                lit_logits = gpt(torch.from_numpy(mat))[:, -1, :]
                assert ours.pred[rows].tolist() == lit_logits.argmax(-1).tolist(), name
                hf_logits = model(torch.from_numpy(mat)).logits[:, -1, :]
                torch.testing.assert_close(hf_logits, lit_logits, rtol=1e-4, atol=1e-4)
                n += len(rows)
    assert n == sum(len(p) for p in world.probes.values()) > 0

    back = tmp_path / "back"
    assert main(["export-litgpt", str(out), "--out", str(back)]) == 0
    reloaded = litgpt.model.GPT(litgpt.config.Config.from_file(back / "model_config.yaml"))
    reloaded.load_state_dict(torch.load(back / "lit_model.pth", weights_only=True), strict=True)
    reloaded.eval()
    x = torch.from_numpy(next(world.probes[name].batches())[1])
    with torch.no_grad():
        assert torch.equal(reloaded(x), gpt(x))
    assert convert_litgpt  # the library entry the CLI calls
