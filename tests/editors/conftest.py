"""Fixtures of the editor tests: a small GPT-NeoX trained on the ``tiny`` world, and requests.

The model is trained once per session (4 layers, width 64, a few seconds) until it knows the
world's facts; editors are then checked on real, learned facts rather than random weights.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from behemoth.evaluation.scoring import probe_accuracy
from behemoth.scenarios.request import EditRequest
from behemoth.world import World
from behemoth.world.vocab import EOT, PAD, SS


def train_tiny_model(world: World, layers: int = 4, width: int = 64, seed: int = 0,
                     target: float = 0.97, max_steps: int = 3000) -> GPTNeoXForCausalLM:
    """Train a small GPT-NeoX on the world's corpus until its ``sro`` accuracy reaches ``target``."""
    cfg = GPTNeoXConfig(
        vocab_size=world.vocab_size, hidden_size=width, num_hidden_layers=layers,
        num_attention_heads=4, intermediate_size=4 * width, hidden_act="gelu",
        max_position_embeddings=128, attention_dropout=0.0, hidden_dropout=0.0,
        bos_token_id=EOT, eos_token_id=EOT, pad_token_id=PAD, use_cache=False,
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPTNeoXForCausalLM(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    sampler = world.sampler(32, 64)
    probes = world.probes["sro"]
    t0 = time.perf_counter()
    for step in range(1, max_steps + 1):
        batch = torch.from_numpy(sampler.next_batch())
        loss = model(input_ids=batch, labels=batch).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 and probe_accuracy(model, probes) >= target:
            break
    model.eval()
    model.train_seconds = time.perf_counter() - t0  # type: ignore[assignment]
    return model


@pytest.fixture(scope="session")
def edit_model(tiny_world: World) -> GPTNeoXForCausalLM:
    model = train_tiny_model(tiny_world)
    assert probe_accuracy(model, tiny_world.probes["sro"]) >= 0.95
    return model


def make_request(world: World, i: int, shift: int = 1) -> EditRequest:
    """Edit ``sro`` probe ``i`` to the object ``shift`` places further in its relation."""
    p = world.probes["sro"]
    prompt = tuple(int(t) for t in p.prompt(i))
    s, r, o = int(p.subject[i]), int(p.relation[i]), int(p.object[i])
    new = (o + shift) % world.config.objects
    start = prompt.index(SS) + 1
    return EditRequest(
        prompt=prompt, target_new=int(world.vocab.object(r, new)), target_old=int(p.answer[i]),
        subject_span=(start, start + world.vocab.subject_tokens), subject=s, relation=r,
        old_object=o, new_object=new,
    )


def make_requests(world: World, n: int, seed: int = 0) -> list[EditRequest]:
    """``n`` edits of distinct subjects, chosen with a seeded generator."""
    p = world.probes["sro"]
    rng = np.random.default_rng(seed)
    subjects = rng.choice(world.config.subjects, size=n, replace=False)
    rows = [int(np.flatnonzero(p.subject == s)[int(rng.integers(world.config.relations))]) for s in subjects]
    return [make_request(world, i, shift=1 + int(rng.integers(world.config.objects - 1))) for i in rows]
