"""AlphaEdit on a short sequential stream: which of its choices makes it weak here?

Applies a ``stream`` scenario one edit at a time (each to the model the previous edit made) with
AlphaEdit under several settings and with MEMIT and ROME side by side, and after every
``--eval-every`` edits reports:

- efficacy over the edits so far: greedy answer of each edited prompt == its new object;
- kept (same relation): of a fixed sample of unedited facts of the edited relations that the
  unedited model answers correctly, the share still answered correctly;
- the mean norm of the weight update of the last edits.

Variants (AlphaEdit, Fang et al. 2025, Eq. 14 with P the null-space projector of C):
``thr=`` the null-space threshold (relative to C's largest eigenvalue), ``l2=`` alpha in units
of trace(C), ``seq=0`` without the keys of earlier edits, ``P=I`` the same solve without the
projection (a MEMIT-like update regularized by alpha I and the earlier keys, no C), and
``Kp=orig`` the earlier keys read from the unedited model instead of the edited one.

    PYTHONPATH=src python bench/alphaedit_stream.py --world W --model M [--edits 40]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch

from behemoth.editors import build_editor
from behemoth.editors.alphaedit import AlphaEditConfig, AlphaEditEditor
from behemoth.editors.base import Editor
from behemoth.editors.context import EditContext
from behemoth.editors.locate.common import mean_keys
from behemoth.editors.prompts import PromptBatch
from behemoth.model import load_model
from behemoth.scenarios.request import EditRequest
from behemoth.scenarios.scenario import build_scenario
from behemoth.world import World


class IdentityProjector(AlphaEditEditor):
    """AlphaEdit's solve with P = I (no null-space projection), for comparison only."""

    def _prepare(self, model: torch.nn.Module, context: EditContext) -> None:
        super()._prepare(model, context)
        for m, C in self.C.items():
            self.P[m] = torch.eye(C.shape[0], dtype=C.dtype)
            self.null_dims[m] = C.shape[0]


class OriginalKeys(AlphaEditEditor):
    """AlphaEdit whose memory holds the earlier edits' keys read from the unedited model."""

    def _prepare(self, model: torch.nn.Module, context: EditContext) -> None:
        super()._prepare(model, context)
        self.original = model

    def _after_edit(
        self, model: torch.nn.Module, rw: PromptBatch, n: int, context: EditContext
    ) -> None:
        keys = mean_keys(self.original, list(self.C), rw, n)
        kk = self.edited_kk(context)
        for module, K in keys.items():
            kk[module] = kk[module] + (K.T @ K).cpu()


def make(spec: str) -> Editor:
    """``memit``, ``rome`` or ``alphaedit[:key=value,...]`` (thr, l2, seq, P=I, Kp=orig)."""
    name, _, rest = spec.partition(":")
    if name != "alphaedit":
        return build_editor(name)
    opts = dict(kv.split("=") for kv in rest.split(",") if kv)
    cfg: dict[str, Any] = {}
    if "thr" in opts:
        cfg["nullspace_threshold"] = float(opts["thr"])
    if "l2" in opts:
        cfg["l2"] = float(opts["l2"])
    if opts.get("seq") == "0":
        cfg["sequential"] = False
    klass: type[AlphaEditEditor] = AlphaEditEditor
    if opts.get("P") == "I":
        klass = IdentityProjector
    elif opts.get("Kp") == "orig":
        klass = OriginalKeys
    return klass(AlphaEditConfig.model_validate(cfg))


@torch.no_grad()
def answers(model: torch.nn.Module, prompts: list[tuple[int, ...]]) -> np.ndarray:
    """Greedy next token of each prompt (grouped by length: no padding)."""
    out = np.zeros(len(prompts), dtype=np.int64)
    by_len: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_len.setdefault(len(p), []).append(i)
    for idx in by_len.values():
        ids = torch.tensor([prompts[i] for i in idx], dtype=torch.long)
        out[idx] = model(input_ids=ids).logits[:, -1].argmax(-1).numpy()
    return out


def kept_sample(
    world: World, model: torch.nn.Module, reqs: list[EditRequest], n: int, seed: int
) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """Up to ``n`` sro facts of the edited relations, of unedited subjects, that ``model``
    answers correctly -> (prompts, answers)."""
    p = world.probes["sro"]
    edited = {r.subject for r in reqs}
    rels = {r.relation for r in reqs}
    rows = [
        i for i in range(len(p)) if int(p.relation[i]) in rels and int(p.subject[i]) not in edited
    ]
    rng = np.random.default_rng(seed)
    rows = list(rng.choice(rows, size=min(3 * n, len(rows)), replace=False))
    prompts = [tuple(int(t) for t in p.prompt(int(i))) for i in rows]
    ans = p.answer[rows]
    ok = answers(model, prompts) == ans
    return [q for q, o in zip(prompts, ok) if o][:n], ans[ok][:n]


def run(
    spec: str, model: torch.nn.Module, world: World, scen: Any, every: int, keep: Any
) -> list[dict[str, Any]]:
    reqs: list[EditRequest] = scen.requests
    ed = make(spec)
    context = EditContext.for_scenario(world, scen)  # one run: one lineage for the stream
    ed.prepare(model, context)
    cur = model
    rows: list[dict[str, Any]] = []
    norms: list[float] = []
    t0 = time.perf_counter()
    for i, r in enumerate(reqs):
        res = ed.apply(cur, [r], context)
        cur = res.model
        norms.append(sum(float(v["fro"] or 0.0) ** 2 for v in res.norms.values()) ** 0.5)
        if (i + 1) % every == 0:
            done = reqs[: i + 1]
            eff = float(
                np.mean(answers(cur, [q.prompt for q in done]) == [q.target_new for q in done])
            )
            kept = float(np.mean(answers(cur, keep[0]) == keep[1]))
            rows.append(
                {
                    "editor": spec,
                    "edits": i + 1,
                    "efficacy": eff,
                    "kept_same_relation": kept,
                    "update_norm": float(np.mean(norms[-every:])),
                }
            )
            print(
                f"{spec:<32} {i + 1:4d}  efficacy {eff:.3f}  kept {kept:.3f}  "
                f"|update| {rows[-1]['update_norm']:.3g}  ({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--world", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--edits", type=int, default=40)
    ap.add_argument("--eval-every", type=int, default=20)
    ap.add_argument("--kept", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1000, help="scenario seed (validation, unreported)")
    ap.add_argument(
        "--editors",
        default="rome,memit,alphaedit,alphaedit:thr=1e-2,alphaedit:thr=1e-3,alphaedit:thr=1e-5,"
        "alphaedit:l2=1e-2,alphaedit:l2=1e-3,alphaedit:l2=1e-6,alphaedit:seq=0,"
        "alphaedit:P=I,alphaedit:Kp=orig",
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    world = World.load(args.world)
    model, _ = load_model(args.model, world)
    scen = build_scenario(world, "stream", {"n": args.edits}, seed=args.seed)
    keep = kept_sample(world, model, scen.requests, args.kept, args.seed)
    print(f"{len(scen.requests)} edits; kept sample: {len(keep[1])} facts of the edited relations")
    out: list[dict[str, Any]] = []
    for spec in args.editors.split(","):
        out += run(spec, model, world, scen, args.eval_every, keep)
    return out


if __name__ == "__main__":
    main()
