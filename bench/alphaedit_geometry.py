"""Why AlphaEdit is weak on behemoth models: the geometry of its null-space projector.

AlphaEdit (Fang et al. 2025, arXiv 2410.02355, Sec. 3.2, Eq. 8-9) projects every update onto
the null space of the corpus keys' second moment C = E[k k^T]: P = U_0 U_0^T, U_0 the
eigenvectors of C below a threshold. An edit can then only act on the part of its key that lies
in that null space, P k. This script measures, on a trained model and its world:

- the spectrum of C per edited layer (eigenvalues relative to the largest; how many lie below
  the thresholds used by behemoth and by the reference code; the share of the corpus keys'
  energy that falls in each null space, trace(P C) / trace(C));
- per edit key k (the averaged key ROME/MEMIT/AlphaEdit use), ||P k||^2 / ||k||^2, against
  random corpus keys and against isotropic random vectors (whose expected share is m / d_ff);
- the cross-talk of one edit onto other facts: writing residual r at edit key k moves the
  output at another fact's key k_j by c_j r, with c_j = k_j^T u / (k^T u) for the update's
  direction u (AlphaEdit: u = (P k k^T + alpha I)^-1 P k, so c_j = k_j^T P k / (alpha + k^T P k);
  MEMIT, one layer: c_j = k_j^T C^-1 k / (lambda + k^T C^-1 k); ROME: lambda = 0), median |c_j|
  over (edit, unedited fact of the same relation) pairs, and the realized share of the residual
  at k itself (1 for ROME);
- the whiteness k^T C^-1 k of edit keys and of corpus keys, in units of d_ff (MEMIT's lambda
  rests on k^T C^-1 k = d_ff for a typical key; see ``behemoth.editors.memit``).

    PYTHONPATH=src python bench/alphaedit_geometry.py --world W --model M [--edits 200]
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch

from behemoth.editors import build_editor
from behemoth.editors.context import EditContext
from behemoth.editors.locate.common import mean_keys, prefixes_for
from behemoth.editors.prompts import rewrite_batch
from behemoth.model import load_model
from behemoth.model.hooks import hooked
from behemoth.scenarios.scenario import build_scenario
from behemoth.world import World

REL_THRESHOLDS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)


@torch.no_grad()
def corpus_keys(model: torch.nn.Module, world: World, module: str, n: int) -> torch.Tensor:
    """``n`` keys (inputs of ``module``) at random positions of fresh corpus batches -> [n, d_ff]."""
    sampler = world.sampler(64, 16)
    out: list[torch.Tensor] = []
    got = 0
    while got < n:
        with hooked(model, inputs=[module]) as rec:
            model(input_ids=torch.from_numpy(sampler.next_batch()))
        k = rec.inputs[module].reshape(-1, rec.inputs[module].shape[-1]).double()
        out.append(k)
        got += k.shape[0]
    keys = torch.cat(out)
    idx = torch.randperm(keys.shape[0], generator=torch.Generator().manual_seed(0))[:n]
    return keys[idx]


def projector(C: torch.Tensor, rel: float) -> tuple[torch.Tensor, int]:
    evals, evecs = torch.linalg.eigh(C)
    small = evals < rel * evals[-1]
    U0 = evecs[:, small]
    return U0 @ U0.T, int(small.sum())


def share(P: torch.Tensor, K: torch.Tensor) -> np.ndarray:
    """||P k||^2 / ||k||^2 per row of K."""
    return ((K @ P) * K).sum(1).numpy() / (K * K).sum(1).clamp_min(1e-30).numpy()


@torch.no_grad()
def fact_keys(
    model: torch.nn.Module, world: World, module: str, reqs: list[Any], token: Any, n: int
):
    """Plain-prompt keys of up to ``n`` sro facts of the edited relations, other subjects."""
    from behemoth.scenarios.compose import so_requests

    p = world.probes["sro"]
    edited = {r.subject for r in reqs}
    rels = sorted({r.relation for r in reqs})
    rows = [
        i for i in range(len(p)) if int(p.relation[i]) in rels and int(p.subject[i]) not in edited
    ]
    rng = np.random.default_rng(0)
    rows = sorted(rng.choice(rows, size=min(n, len(rows)), replace=False).tolist())
    subj = np.array([int(p.subject[i]) for i in rows])
    rel = np.array([int(p.relation[i]) for i in rows])
    others = so_requests(world, "sro", subj, rel, np.array([int(p.object[i]) for i in rows]))
    return mean_keys(model, [module], rewrite_batch(others, token, []), len(others))[
        module
    ].cpu(), rel


def crosstalk(
    M: torch.Tensor, K: torch.Tensor, Kr: np.ndarray, F: torch.Tensor, Fr: np.ndarray, reg: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per edit i (key K[i]) with the update direction M K[i]: the realized share
    k^T M k / (reg + k^T M k), and |F[j]^T M K[i]| / (reg + k^T M k) for facts j of its relation."""
    MK = K @ M  # [n, d] (M symmetric)
    self_ = (MK * K).sum(1)
    realized = (self_ / (reg + self_)).numpy()
    cross = (F @ MK.T).abs() / (reg + self_)[None, :]  # [facts, edits]
    same = torch.from_numpy(Fr[:, None] == Kr[None, :])
    return realized, cross[same].numpy()


def q(x: np.ndarray) -> str:
    return (
        f"median {np.median(x):.2e} (p10 {np.quantile(x, 0.1):.2e}, p90 {np.quantile(x, 0.9):.2e})"
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--world", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--edits", type=int, default=200)
    ap.add_argument("--corpus-keys", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=1000, help="scenario seed (validation, unreported)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    world = World.load(args.world)
    model, _ = load_model(args.model, world)
    scen = build_scenario(world, "stream", {"n": args.edits}, seed=args.seed)
    ed = build_editor("alphaedit")
    ed.prepare(model, EditContext.for_scenario(world, scen))
    prefixes = prefixes_for(ed.config, world, scen.editor_facts)
    rw = rewrite_batch(scen.requests, ed.config.token, prefixes)
    plain = rewrite_batch(scen.requests, ed.config.token, [])
    modules = list(ed.C)
    keys = mean_keys(model, modules, rw, len(scen.requests))
    pkeys = mean_keys(model, modules, plain, len(scen.requests))
    out: dict[str, Any] = {}
    gen = torch.Generator().manual_seed(0)
    for m in modules:
        C = ed.C[m]
        d = C.shape[0]
        evals = torch.linalg.eigvalsh(C).flip(0)  # descending
        rel = (evals / evals[0]).numpy()
        print(f"\n== {m}  (d_ff {d}, trace C = E|k|^2 = {float(evals.sum()):.4g})")
        print(
            "  eigenvalues / largest at ranks 1,8,32,64,128,192,224,240,256: "
            + ", ".join(f"{rel[min(i, d) - 1]:.1e}" for i in (1, 8, 32, 64, 128, 192, 224, 240, d))
        )
        ck = corpus_keys(model, world, m, args.corpus_keys)
        K, Kp = keys[m].cpu(), pkeys[m].cpu()
        iso = torch.randn(args.edits, d, generator=gen, dtype=torch.float64)
        Cinv = torch.linalg.inv(C)
        white_e = ((K @ Cinv) * K).sum(1).numpy() / d
        white_c = ((ck @ Cinv) * ck).sum(1).numpy() / d
        print(f"  k^T C^-1 k / d_ff: edit keys {q(white_e)}; corpus keys {q(white_c)}")
        F, Fr = fact_keys(model, world, m, scen.requests, ed.config.token, 1000)
        Kr = np.array([r.relation for r in scen.requests])
        lam = d / 4.0
        for label, M, reg in (
            ("ROME (C^-1, lambda 0)", Cinv, 0.0),
            ("MEMIT (C^-1, lambda d_ff/4)", Cinv, lam),
            (
                "MEMIT-style, no C (I, alpha)",
                torch.eye(d, dtype=C.dtype),
                1e-4 * float(evals.sum()),
            ),
        ):
            real, cr = crosstalk(M, K, Kr, F, Fr, reg)
            print(
                f"  {label:>30}: realized {np.median(real):.3f}; cross-talk same relation {q(cr)}"
            )
        Cf = F.T @ F / F.shape[0]  # the second moment of other facts' keys (preserved facts)
        ef = torch.linalg.eigvalsh(Cf)
        pr_c = float(evals.sum() ** 2 / (evals**2).sum())
        pr_f = float(ef.sum() ** 2 / (ef**2).sum())
        print(
            f"  participation ratio (effective rank): corpus C {pr_c:.1f}, facts' keys {pr_f:.1f}"
            f" ({F.shape[0]} facts of the edited relations)"
        )
        for t in (1e-2, 1e-3, 1e-4):
            Pf, mf = projector(Cf, t)
            print(
                f"  facts' null space rel {t:.0e}: {mf:3d}/{d} dims; ||P_f k||^2/||k||^2 of "
                f"edit keys {np.median(share(Pf, K)):.2e} (isotropic {np.median(share(Pf, iso)):.2e})"
            )
        row: dict[str, Any] = {
            "participation_ratio_corpus": pr_c,
            "participation_ratio_facts": pr_f,
            "d_ff": d,
            "whiteness_edit_median": float(np.median(white_e)),
            "whiteness_corpus_median": float(np.median(white_c)),
        }
        thresholds = [(f"rel {t:.0e}", t) for t in REL_THRESHOLDS]
        thresholds.append(("ref abs 2e-2", 2e-2 / float(evals[0])))
        for label, t in thresholds:
            P, m0 = projector(C, t)
            energy = float(torch.trace(P @ C) / torch.trace(C))
            se, sp, sc, si = share(P, K), share(P, Kp), share(P, ck), share(P, iso)
            print(
                f"  {label:>13}: null dims {m0:3d}/{d} ({m0 / d:.1%}); corpus energy in null "
                f"{energy:.2e}; ||Pk||^2/||k||^2 edit(avg) {np.median(se):.2e}, "
                f"edit(plain) {np.median(sp):.2e}, corpus {np.median(sc):.2e}, "
                f"isotropic {np.median(si):.2e}"
            )
            alpha = ed.config.l2 * float(evals.sum())
            real, cr = crosstalk(P, K, Kr, F, Fr, alpha)
            print(
                f"  {'':>13}  AlphaEdit (l2 {ed.config.l2:g}): realized {np.median(real):.3f}; "
                f"cross-talk same relation {q(cr)}"
            )
            row[label] = {
                "crosstalk_median": float(np.median(cr)),
                "realized_median": float(np.median(real)),
                "null_dims": m0,
                "corpus_energy": energy,
                "edit_share_median": float(np.median(se)),
                "edit_plain_share_median": float(np.median(sp)),
                "corpus_share_median": float(np.median(sc)),
                "isotropic_share_median": float(np.median(si)),
            }
        out[m] = row
    return out


if __name__ == "__main__":
    main()
