"""The logit lens (nostalgebraist 2020) and ``behemoth lens`` (issue 23)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from behemoth.analysis.lens import lens_probes, logit_lens
from behemoth.cli.main import main
from behemoth.io import write_json
from behemoth.world import World
from tests.editors.tiny_archs import ARCHS, tiny_model
from tests.evaluation.test_evaluate import small_model


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_last_layer_is_the_models_own_output(arch: str) -> None:
    model = tiny_model(arch, 50)
    rng = np.random.default_rng(0)
    prompts = [rng.integers(0, 50, size=n) for n in (5, 5, 7)]  # two lengths: two batches
    answers = rng.integers(0, 50, size=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res = logit_lens(model, prompts, answers, batch_size=1)
    assert res.layers[0] == "embed" and len(res.layers) == model.config.num_hidden_layers + 1
    for i, p in enumerate(prompts):
        with torch.no_grad():
            logits = model(input_ids=torch.as_tensor(p)[None]).logits[0, -1].float()
        probs = torch.softmax(logits, -1)
        assert res.prob[i, -1] == pytest.approx(float(probs[answers[i]]), rel=1e-4, abs=1e-6)
        assert res.rank[i, -1] == int((probs > probs[answers[i]]).sum())
        assert res.top1[i, -1] == int(logits.argmax())
    # scoped hooks: nothing left on the model, nothing changed
    assert not any(m._forward_hooks for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_an_earlier_layer_is_decoded_by_final_norm_and_unembedding() -> None:
    model = tiny_model("gpt_neox", 50)
    p = np.arange(6)
    out = model(input_ids=torch.as_tensor(p)[None], output_hidden_states=True)
    h1 = out.hidden_states[1][0, -1]  # after block 0
    with torch.no_grad():
        head = model.get_output_embeddings()
        lp = torch.log_softmax(head(model.gpt_neox.final_layer_norm(h1)), -1)
    res = logit_lens(model, [p], np.array([7]))
    assert res.prob[0, 1] == pytest.approx(float(lp[7].exp()), rel=1e-5)
    summary = res.summary()
    assert summary[1]["layer"] == "0" and summary[1]["n"] == 1


def test_lens_probes_samples_and_checks(tiny_world: World) -> None:
    from behemoth.errors import ConfigError

    model = small_model(tiny_world)
    res = lens_probes(model, tiny_world, "sro", n_facts=30, relation=1, seed=3)
    probes = tiny_world.probes["sro"]
    assert res.n == 30 and set(np.unique(res.answers)) <= set(probes.answer[probes.relation == 1])
    again = lens_probes(model, tiny_world, "sro", n_facts=30, relation=1, seed=3)
    assert np.array_equal(res.prob, again.prob)  # same seed, same sample and numbers
    assert "top-1" in res.table() and len(res.table().splitlines()) == 2 + len(res.layers)
    with pytest.raises(ConfigError, match="template"):
        lens_probes(model, tiny_world, "nope")


def test_lens_cli_prints_and_writes(
    tiny_world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "m"
    small_model(tiny_world).save_pretrained(str(d))
    write_json(
        d / "behemoth_model.json",
        {
            "format": "behemoth-model",
            "format_version": 1,
            "world": {"path": str(tiny_world.path), "fingerprint": tiny_world.fingerprint},
        },
    )
    out = tmp_path / "lens"
    assert main(["lens", str(d), "--facts", "20", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "logit lens: 20 facts" in text and "legend:" in text and "embed" in text
    data = json.loads((out / "lens.json").read_text())
    assert data["layers"] == ["embed", "0", "1"] and len(data["prob"]) == 20
    assert (out / "lens.png").stat().st_size > 0
    assert main(["lens", str(d), "--relation", "99"]) == 2
    err = capsys.readouterr().err
    assert "--relation" in err and len(err.strip().splitlines()) == 1
