"""Every weight editor on tiny randomly initialized GPT-2, Llama, Qwen2 and GPT-NeoX models
(tests/editors/tiny_archs.py), so the layer paths of real architectures are tested, not assumed.

The models are random, so they know no facts and efficacy is not asked for; what is checked is
what an editor must do on any model: the contract of its kind (input unchanged, deterministic,
exact deltas; tests/editors/conformance.py), that it changes the matrices its paths name and
no other, and each method's algebra: ROME's update has rank one and maps k* to v* exactly;
MEMIT's and AlphaEdit's have rank <= the number of edits, AlphaEdit's lies in its null space;
LoRA's has rank <= r. GPT-2 stores its projections transposed (Conv1D), so these checks are
where a weight read or written the wrong way round would show.

Parametrized as ``<arch>-<editor>``: ``-k rome`` or ``-k gpt2`` select; each (arch, editor) is
computed on its first use.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from behemoth.editors import EDITORS, Editor, EditResult, build_editor
from behemoth.editors.alphaedit import AlphaEditEditor
from behemoth.editors.context import EditContext
from behemoth.editors.lora import LoraEditor
from behemoth.editors.unlearning.trainer import UnlearningEditor
from behemoth.model.layers import (
    PARTS,
    get_module,
    linear_weight,
    resolve_paths,
    stored_transposed,
)
from behemoth.scenarios.request import EditRequest
from behemoth.world import World
from tests.editors.conformance import check_conformance
from tests.editors.conftest import make_requests
from tests.editors.tiny_archs import ARCHS, LAYERS, WIDTH, tiny_model

ARCH_NAMES = list(ARCHS)
# Unlearning editors stop once no forget prompt gets its true answer: a random model knows
# nothing, so they rightly change nothing here; they share FT's trainer and paths (tested via ft).
WEIGHT_EDITORS = [
    n
    for n in EDITORS.names()
    if EDITORS[n].kind == "weights" and not issubclass(EDITORS[n], UnlearningEditor)
]
N_EDITS = 2  # requests per batch (ROME: one, so its update is a single rank-one term)

#: Test-speed settings for two-layer random models; everything else is the editor's default.
_LOCATE = {"mom2_n_tokens": 4_000, "v_steps": 5, "n_prefixes": 4}
SETTINGS: dict[str, dict[str, Any]] = {
    "rome": {**_LOCATE, "layer": 0},
    "memit": {**_LOCATE, "layers": [0, 1]},
    # Random models' keys fill their space evenly; a larger threshold leaves a null space.
    "alphaedit": {**_LOCATE, "layers": [0, 1], "nullspace_threshold": 1e-2},
    "ft": {"steps": 3, "retain_batch": 16},
    "lora": {"steps": 3, "retain_batch": 16},
}


class ArchEdits:
    """Per (arch, editor), on first use: the prepared editor, its requests, one result."""

    def __init__(self, world: World, stats_dir: Path) -> None:
        self.world, self.stats_dir = world, stats_dir
        self.models: dict[str, torch.nn.Module] = {}
        self.cache: dict[tuple[str, str], tuple[Editor, list[EditRequest], EditResult]] = {}

    def context(self) -> EditContext:
        return EditContext(self.world, cache=self.stats_dir)

    def model(self, arch: str) -> torch.nn.Module:
        if arch not in self.models:
            self.models[arch] = tiny_model(arch, self.world.vocab_size)
        return self.models[arch]

    def __call__(self, arch: str, name: str) -> tuple[Editor, list[EditRequest], EditResult]:
        if (arch, name) not in self.cache:
            model = self.model(arch)
            editor = build_editor(name, dict(SETTINGS.get(name, {})))
            editor.prepare(model, self.context())
            requests = make_requests(self.world, 1 if name == "rome" else N_EDITS, seed=2)
            self.cache[arch, name] = (
                editor,
                requests,
                editor.apply(model, requests, self.context()),
            )
        return self.cache[arch, name]


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Models this small are bound by per-operation overhead; a second thread only adds
    synchronization (4x slower side by side on the loaded 2-core machine). Restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def arch_edits(tiny_world: World, tmp_path_factory: pytest.TempPathFactory) -> ArchEdits:
    return ArchEdits(tiny_world, tmp_path_factory.mktemp("arch-stats"))


def _cases(names: list[str]) -> list[Any]:
    return [pytest.param(a, n, id=f"{a}-{n}") for n in names for a in ARCH_NAMES]


def _out_in(model: torch.nn.Module, param: str, delta: torch.Tensor) -> torch.Tensor:
    """A weight delta in [out, in] orientation (GPT-2's Conv1D stores it transposed)."""
    module = param.rsplit(".", 1)[0]
    return delta.T if stored_transposed(model, module) else delta


@pytest.mark.parametrize("arch", ARCH_NAMES)
def test_layer_paths_name_the_real_modules(arch: str, arch_edits: ArchEdits) -> None:
    model = arch_edits.model(arch)
    paths = resolve_paths(model)  # the preset found from config.model_type
    assert paths == resolve_paths(model, arch)
    assert paths.n_layers(model) == LAYERS
    d_ff = linear_weight(model, paths.one("mlp_out", 0)).shape[1]
    for layer in range(LAYERS):
        for part in PARTS[1:]:  # every projection is a linear map [out, in] of the right width
            for name in paths.at(part, layer):
                out, inp = linear_weight(model, name).shape
                assert (inp if part.endswith("_in") else out) == WIDTH, (name, out, inp)
        assert {linear_weight(model, m).shape[0] for m in paths.at("mlp_in", layer)} == {d_ff}
    assert get_module(model, paths.embed).weight.shape == (arch_edits.world.vocab_size, WIDTH)
    assert get_module(model, paths.head).weight.shape == (arch_edits.world.vocab_size, WIDTH)
    # The [out, in] view is the layer's map, and writing it writes the stored weight.
    name = paths.one("mlp_out", 1)
    work = tiny_model(arch, arch_edits.world.vocab_size)
    mod, W = get_module(work, name), linear_weight(work, name)
    k = torch.randn(3, d_ff, generator=torch.Generator().manual_seed(0))
    b = getattr(mod, "bias", None)
    bias: torch.Tensor | float = b if isinstance(b, torch.Tensor) else 0.0
    with torch.no_grad():
        assert torch.allclose(mod(k), k @ W.T + bias, atol=1e-6)
        W.copy_(2 * W)
        assert torch.allclose(mod(k), 2 * (k @ linear_weight(model, name).T) + bias, atol=1e-6)


@pytest.mark.parametrize(("arch", "name"), _cases(WEIGHT_EDITORS))
def test_contract_on_each_architecture(
    arch: str, name: str, arch_edits: ArchEdits, tmp_path: Path
) -> None:
    editor, requests, first = arch_edits(arch, name)
    check_conformance(
        editor, arch_edits.model(arch), requests, tmp_path, first, context=arch_edits.context()
    )
    assert first.deltas, f"{arch}-{name}: nothing changed"


def _expected_modules(arch: str, name: str, editor: Editor, model: torch.nn.Module) -> set[str]:
    paths = editor.paths(model)
    if name == "rome":
        return {paths.one("mlp_out", 0)}
    if name in ("memit", "alphaedit"):
        return {paths.one("mlp_out", i) for i in (0, 1)}
    if name == "lora":
        assert isinstance(editor, LoraEditor)
        return set(editor.target_modules(model))
    return {m for i in range(LAYERS) for p in ("mlp_in", "mlp_out") for m in paths.at(p, i)}


@pytest.mark.parametrize(("arch", "name"), _cases(["rome", "memit", "alphaedit", "ft", "lora"]))
def test_changes_only_the_matrices_its_paths_name(
    arch: str, name: str, arch_edits: ArchEdits
) -> None:
    editor, _, res = arch_edits(arch, name)
    model = arch_edits.model(arch)
    expected = _expected_modules(arch, name, editor, model)
    changed = {k.rsplit(".", 1)[0] for k in res.deltas}
    assert changed <= expected, changed - expected
    if name != "ft":  # ft may leave a bias untouched; the others write every named matrix
        assert changed == expected


@pytest.mark.parametrize("arch", ARCH_NAMES)
def test_rome_rank_one_maps_key_to_value(arch: str, arch_edits: ArchEdits) -> None:
    editor, _, res = arch_edits(arch, "rome")
    model = arch_edits.model(arch)
    module = editor.paths(model).one("mlp_out", 0)
    (param,) = res.deltas
    assert res.norms[param]["rank"] == 1
    k, v = res.tensors["k_star"][0].float(), res.tensors["v_star"][0].float()
    with torch.no_grad():
        before = get_module(model, module)(k)
        after = get_module(res.model, module)(k)
    assert float((after - v).norm()) <= 1e-4 * float(v.norm())  # W' k* + b = v*
    assert float((before - v).norm()) > 100 * float((after - v).norm())


@pytest.mark.parametrize(("arch", "name"), _cases(["memit", "alphaedit"]))
def test_memit_rank_at_most_the_batch(arch: str, name: str, arch_edits: ArchEdits) -> None:
    editor, requests, res = arch_edits(arch, name)
    assert len(res.deltas) == 2
    for param, norms in res.norms.items():
        rank = norms["rank"]
        assert rank is not None and 1 <= rank <= len(requests), (param, rank)
    if name == "alphaedit":  # Delta = Delta P: no change along the preserved keys (Eq. 14)
        model = arch_edits.model(arch)
        assert isinstance(editor, AlphaEditEditor)
        P = editor.P
        for param, d in res.deltas.items():
            D = _out_in(model, param, d)  # [d, d_ff]
            module = param.rsplit(".", 1)[0]
            assert 0 < float(torch.linalg.matrix_rank(P[module])) < D.shape[1]
            w = float(linear_weight(res.model, module).detach().double().norm())
            leak = float((D - D @ P[module]).norm())  # the float32 rounding of W + Delta only
            assert leak <= 1e-6 * w, (param, leak, float(D.norm()))


@pytest.mark.parametrize("arch", ARCH_NAMES)
def test_lora_rank_at_most_r(arch: str, arch_edits: ArchEdits) -> None:
    editor, _, res = arch_edits(arch, "lora")
    assert isinstance(editor, LoraEditor)
    r = editor.config.rank
    for param, norms in res.norms.items():
        rank = norms["rank"]
        assert rank is not None and 1 <= rank <= r, (param, rank)


#: LoRA's targets, per architecture: block prefix and the modules each target names.
_NEOX = ("gpt_neox.layers", "attention.query_key_value", "attention.dense")
_LLAMA_ATTN = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"]
_LLAMA = {
    "query_key_value": _LLAMA_ATTN,
    "attention_dense": ["self_attn.o_proj"],
    "mlp_in": ["mlp.gate_proj", "mlp.up_proj"],
    "mlp_out": ["mlp.down_proj"],
}
LORA_TARGETS: dict[str, tuple[str, dict[str, list[str]]]] = {
    "gpt2": (
        "transformer.h",
        {
            "query_key_value": ["attn.c_attn"],
            "attention_dense": ["attn.c_proj"],
            "mlp_in": ["mlp.c_fc"],
            "mlp_out": ["mlp.c_proj"],
        },
    ),
    "llama": ("model.layers", _LLAMA),
    "qwen2": ("model.layers", _LLAMA),
    "gpt_neox": (
        "gpt_neox.layers",
        {
            "query_key_value": ["attention.query_key_value"],
            "attention_dense": ["attention.dense"],
            "mlp_in": ["mlp.dense_h_to_4h"],
            "mlp_out": ["mlp.dense_4h_to_h"],
        },
    ),
}


@pytest.mark.parametrize("arch", ARCH_NAMES)
def test_lora_every_target_on_each_architecture(
    arch: str, arch_edits: ArchEdits, tmp_path: Path
) -> None:
    """Each target names the architecture's own modules; adapters on all of them (GPT-2: Conv1D
    and, through the tied head, the embedding) train, merge and give exact deltas of rank <= r."""
    model = arch_edits.model(arch)
    prefix, parts = LORA_TARGETS[arch]
    every = [*parts, "head"]
    editor = build_editor("lora", {"steps": 2, "retain_batch": 8, "targets": every, "rank": 2})
    assert isinstance(editor, LoraEditor)
    for target, suffixes in parts.items():
        names = LoraEditor(editor.config.model_copy(update={"targets": [target]}))
        want = [f"{prefix}.{i}.{m}" for i in range(LAYERS) for m in suffixes]
        assert names.target_modules(model) == want, target
    targets = editor.target_modules(model)
    assert targets[-1] == "lm_head"
    editor.prepare(model, arch_edits.context())
    res = check_conformance(
        editor,
        model,
        make_requests(arch_edits.world, 1, seed=3),
        tmp_path,
        context=arch_edits.context(),
    )
    weights = {id(get_module(model, t).weight) for t in targets}  # GPT-2: lm_head is wte
    expected = {n for n, p in model.named_parameters() if id(p) in weights}
    assert set(res.deltas) == expected
    for param, norms in res.norms.items():
        assert norms["rank"] is not None and 1 <= norms["rank"] <= 2, (param, norms["rank"])
