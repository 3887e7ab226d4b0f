"""The ``capacity`` study (issue 25): facts known and knowledge bits against model size.

A grid of model sizes (width x depth) is trained on one world, each size ``replicates`` times
(the trained model is the unit of replication), every model through the shared cache
(:func:`behemoth.experiments.replicates.shared_world` / :func:`shared_model`, the functions
:func:`resolve_world` / :func:`resolve_model` call for a :class:`WorldRecipe` /
:class:`ModelRecipe`, so a sweep's ``--shared`` directory and this study find and train the very
same artifacts, each once). Training stops at ``train.target_accuracy`` (99%) on the training
template or at the token budget ``train.max_tokens``. Each model is then scored on every fact
with the batched scorer (:func:`behemoth.model.scoring.score`): greedy correctness and the
object's log-probability, from which :mod:`behemoth.analysis.capacity` computes the knowledge
bits of Allen-Zhu & Li (2024, arXiv 2404.05405) and bits per parameter (all parameters, and
without the input embedding and the output head). Tokens seen per fact when 50% and 99% of the
facts were first known come from the training log the trainer writes (``train_log.jsonl``, one
record per ``train.eval_every`` steps).

Outputs in ``--out``: ``capacity.parquet`` (one row per trained model), ``capacity.png``,
``capacity.md`` (per size: mean [95% t-interval over models] sd, per-model values, n models),
``capacity.json`` (the resolved study: world, every model recipe and its seeds) and
``provenance.json`` (package versions, git revision, machine, time). The directory is written
atomically (all or nothing).

    python -m behemoth.experiments.capacity --out results/capacity [--shared DIR]
        [--scale cpu|paper] [--replicates N] [--sizes 32x2,256x6] [--dry-run]

Presets (:data:`PRESETS`): ``cpu`` (widths 32-256 x depths 2-6, see :data:`CPU_NOTE` for the
grid and the budget) and ``paper`` (the Behemoth paper's world, for GPUs).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import Field, model_validator

from behemoth.config import StrictConfig, deep_merge, validate
from behemoth.errors import BehemothError, ConfigError

log = logging.getLogger(__name__)

PARQUET = "capacity.parquet"
PLOT = "capacity.png"
TABLE = "capacity.md"
STUDY = "capacity.json"

#: Why the CPU preset looks the way it does (also printed by --dry-run).
CPU_NOTE = (
    "cpu: 8,000 facts (1,000 one-token subjects x 8 relations, 64 objects: 48,000 bits; the "
    "smallest model has 25,472 parameters outside its embedding and head), 2M tokens "
    "per model at most (250 tokens, ~23 exposures, per fact), 10 of the 12 sizes: 256 wide at "
    "4 and 6 layers are left out, since their 3 replicates alone would take longer than the "
    "other 10 sizes together (training FLOPs per token: 9.2M parameters' worth for the two, "
    "7.1M for the ten); the token budget, not capacity, limits the small models"
)


class CapacitySpec(StrictConfig):
    """The study: one world, a grid of sizes, replicates of each, one training recipe.

    Heads are ``width // 32`` (at least 2: head dims 16-32), the MLP ``4 x width`` (Pythia),
    and the peak learning rate ``lr * lr_width / width`` (muP's Adam rule for hidden weights,
    Yang et al. 2022, "Tensor Programs V", Table 3), so one recipe trains every width."""

    world: dict[str, Any] = Field(description="The WorldConfig (a preset's keys + overrides).")
    widths: list[int] = Field(min_length=1, description="Model widths d_model.")
    depths: list[int] = Field(min_length=1, description="Model depths (layers).")
    sizes: list[tuple[int, int]] | None = Field(
        None, description="Only these (width, layers) of the grid (null = the whole grid)."
    )
    replicates: int = Field(3, ge=1, le=100, description="Trained models per size.")
    lr: float = Field(1e-2, gt=0.0, description="Peak learning rate at width lr_width.")
    lr_width: int = Field(64, ge=8, description="The width lr is given for.")
    train: dict[str, Any] = Field(
        default_factory=dict, description="TrainConfig settings common to every model."
    )
    seed: int = Field(0, ge=0, description="Replicate 0's seed; replicate i adds i.")

    @model_validator(mode="after")
    def _check(self) -> CapacitySpec:
        for w in self.widths:
            if w < 16 or w % 16:
                raise ConfigError(
                    "widths", f"{w} is not a multiple of 16", "use widths like 32, 64, 128, 256"
                )
        for d in self.depths:
            if d < 1:
                raise ConfigError("depths", f"{d} layers", "use depths >= 1")
        if self.sizes is not None:
            for s in self.sizes:
                if s[0] not in self.widths or s[1] not in self.depths:
                    raise ConfigError(
                        "sizes",
                        f"{s[0]}x{s[1]} is not in the grid {self.widths} x {self.depths}",
                        "choose sizes WIDTHxLAYERS from the grid",
                    )
        if "lr" in self.train:
            raise ConfigError("train.lr", "is set per width", "set lr (and lr_width) instead")
        from behemoth.world import WorldConfig

        wc = validate(WorldConfig, self.world)
        if wc.correlated_pair or wc.minority_entity_frac > 0 or wc.binarize_first:
            raise ConfigError(
                "world",
                "objects are not uniform (correlated_pair, binarize_first or minority objects)",
                "use a world whose objects are drawn uniformly: the bits need log2 T per fact",
            )
        self.recipe(self.widths[0], self.depths[0], 0)  # the train settings, checked once
        return self

    def grid(self) -> list[tuple[int, int]]:
        """The (width, layers) trained, smallest first."""
        full = [(w, d) for w in sorted(self.widths) for d in sorted(self.depths)]
        return full if self.sizes is None else [s for s in full if s in set(self.sizes)]

    def model_set(self, width: int, layers: int) -> dict[str, Any]:
        """The RunConfig of this size (replicate 0): geometry, per-width rate, common train."""
        heads = max(2, width // 32)
        return {
            "seed": self.seed,
            "data_seed": self.seed,
            "model": {
                "layers": layers,
                "width": width,
                "heads": heads,
                "mlp": 4 * width,
                "rotary_pct": 0.25,
                "parallel_residual": True,
            },
            "train": {**self.train, "lr": self.lr * self.lr_width / width},
        }

    def recipe(self, width: int, layers: int, replicate: int) -> Any:
        """The :class:`~behemoth.experiments.config.ModelRecipe` of one trained model."""
        from behemoth.config import located
        from behemoth.experiments.config import ModelRecipe

        r = validate(ModelRecipe, {"set": self.model_set(width, layers), "replicate": replicate})
        located("train", r.resolved)
        return r


#: sizes of the grid the cpu preset leaves out (its 2-hour budget; see CPU_NOTE)
CPU_LEFT_OUT = ((256, 4), (256, 6))

#: The shipped presets of the study (``--scale``).
PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {
        "world": {
            "subjects": 1000,
            "relations": 8,
            "objects": 64,
            "repeats": 100,
            "max_subject_words": 2000,
        },
        "widths": [32, 64, 128, 256],
        "depths": [2, 4, 6],
        "sizes": [
            [w, d] for w in (32, 64, 128, 256) for d in (2, 4, 6) if (w, d) not in CPU_LEFT_OUT
        ],
        "replicates": 3,
        "lr": 1e-2,
        "lr_width": 64,
        "train": {
            "seq_len": 32,
            "batch_size": 64,
            "max_tokens": 2_000_000,
            "warmup_steps": 100,
            "embedding_lr_scale": 30.0,
            "eval_every": 100,
            "eval_sets": [],
            "target_accuracy": 0.99,
            "threads": 2,
        },
    },
    "paper": {
        "world": {"subjects": 100000, "relations": 6, "objects": 400, "repeats": 500},
        "widths": [32, 64, 128, 256],
        "depths": [2, 4, 6],
        "replicates": 5,
        "lr": 1e-2,
        "lr_width": 64,
        "train": {
            "seq_len": 32,
            "batch_size": 256,
            "max_tokens": 2_000_000_000,
            "warmup_steps": 500,
            "embedding_lr_scale": 30.0,
            "eval_every": 500,
            "eval_sets": [],
            "target_accuracy": 0.99,
        },
    },
}


def preset_spec(scale: str, **changes: Any) -> CapacitySpec:
    """The spec of a shipped preset with ``changes`` (e.g. ``replicates``, ``sizes``)."""
    if scale not in PRESETS:
        raise ConfigError("--scale", f"unknown scale {scale!r}", f"choose {' or '.join(PRESETS)}")
    return validate(CapacitySpec, deep_merge(PRESETS[scale], changes))


# --- one model ---------------------------------------------------------------------------------


def param_counts(model: Any) -> tuple[int, int]:
    """(all parameters, without the input embedding and the output head; a tied head once)."""
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    embedding = emb.numel() + (0 if head is emb else head.numel())
    return total, total - embedding


def measure_model(model_dir: Path, world: Any, batch_size: int = 2048) -> dict[str, Any]:
    """One row of the study from a trained model directory: every fact of the training
    template scored once, the bits, the parameter counts and the training log's milestones."""
    from behemoth.analysis.capacity import bits_per_param, knowledge_bits, tokens_per_fact_at
    from behemoth.experiments.exposure import score_facts
    from behemoth.model.load import load_model
    from behemoth.model.logplot import LOG, read_log
    from behemoth.model.retain_oracle import training_seconds

    model, meta = load_model(model_dir, world)
    target = meta["result"]["target_set"]
    facts = score_facts(model, world, batch_size=batch_size, template=target)
    lp = -facts["loss"].to_numpy()
    n_choices = int(world.config.objects)
    bits = knowledge_bits(lp, n_choices)
    p_all, p_body = param_counts(model)
    history = read_log(model_dir / LOG)
    n = len(facts)
    m = meta["config"]["model"]
    unfloored = knowledge_bits(lp, n_choices, floor=False)
    return {
        "width": int(m["width"]),
        "layers": int(m["layers"]),
        "params_all": p_all,
        "params_non_embedding": p_body,
        "seed": int(meta["config"]["seed"]),
        "data_seed": int(meta["config"]["data_seed"]),
        "n_facts": n,
        "n_choices": n_choices,
        "facts_known": int(facts["correct"].sum()),
        "bits": bits,
        "bits_unfloored": unfloored,
        "bits_max": n * math.log2(n_choices),
        # the paper's ratio (Allen-Zhu & Li 2024, Def. 4.1) divides its value term, which has no
        # floor: the unfloored bits, not the floored headline (docs/capacity.md)
        "bits_per_param_all": bits_per_param(unfloored, p_all),
        "bits_per_param_non_embedding": bits_per_param(unfloored, p_body),
        "tokens_per_fact_50": tokens_per_fact_at(history, target, n, 0.5),
        "tokens_per_fact_99": tokens_per_fact_at(history, target, n, 0.99),
        "tokens_seen": int(meta["result"]["tokens"]),
        "stopped": str(meta["result"]["stopped"]),
        "train_seconds": training_seconds(model_dir),
    }


#: capacity.parquet's columns, in order (train_seconds is a measurement: it may differ between
#: two runs that train; every other column is a function of the config and seeds)
COLUMNS = (
    "width", "layers", "params_all", "params_non_embedding", "replicate", "seed", "data_seed",
    "n_facts", "n_choices", "facts_known", "bits", "bits_unfloored", "bits_max",
    "bits_per_param_all", "bits_per_param_non_embedding", "tokens_per_fact_50",
    "tokens_per_fact_99", "tokens_seen", "stopped", "train_seconds",
)  # fmt: skip


def rows_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The study's rows as a frame with fixed columns and types (tokens: nullable floats)."""
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    for c in ("tokens_per_fact_50", "tokens_per_fact_99"):
        df[c] = df[c].astype("Float64")
    return df.sort_values(["width", "layers", "replicate"], kind="stable").reset_index(drop=True)


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    """``df`` to ``path`` through a temporary file and a rename (never half-written)."""
    tmp = path.with_name(f".{path.name}.tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


# --- the study ----------------------------------------------------------------------------------


def run_capacity(
    spec: CapacitySpec, out: str | Path, shared: str | Path, force: bool = False
) -> dict[str, Any]:
    """Train (or find) every model of ``spec`` under ``shared``, measure each and write the
    study into ``out`` atomically. Returns ``{"rows": DataFrame, "trained": n models trained
    by this call, "cached": n found}``."""
    from behemoth.analysis.capacity import plot_capacity, table_markdown
    from behemoth.experiments.config import WorldRecipe
    from behemoth.experiments.replicates import shared_model, shared_world
    from behemoth.io import atomic_dir, check_out, write_json
    from behemoth.model.export import META
    from behemoth.progress import bar
    from behemoth.provenance import write_provenance

    out, shared = Path(out), Path(shared)
    check_out(out, force, STUDY, "a capacity study", inputs={"--shared": shared})
    grid = spec.grid()
    recipes = {(w, d, i): spec.recipe(w, d, i) for w, d in grid for i in range(spec.replicates)}
    world = shared_world(shared, validate(WorldRecipe, {"set": spec.world}).resolved())
    rows: list[dict[str, Any]] = []
    trained = cached = 0
    progress = bar(total=len(recipes), desc="capacity", unit="model")
    try:
        for (w, d, i), recipe in recipes.items():
            config = recipe.resolved()
            if (shared_model(shared, world, config, build=False) / META).is_file():
                cached += 1
            else:
                trained += 1
            progress.set_postfix_str(f"{w}x{d} replicate {i}")
            model_dir = shared_model(shared, world, config)
            rows.append({**measure_model(model_dir, world), "replicate": i})
            progress.update(1)
    finally:
        progress.close()
    df = rows_frame(rows)
    study = {
        "spec": spec.to_dict(),
        "world": {"config": world.config.to_dict(), "fingerprint": world.fingerprint},
        "models": [
            {"width": w, "layers": d, "replicate": i, "config": r.resolved()}
            for (w, d, i), r in recipes.items()
        ],
    }
    title = (
        f"capacity: {int(df['n_facts'].iloc[0]):,} facts x {math.log2(world.config.objects):.2f} "
        f"bits, {spec.replicates} model(s) per size (band: 95% t over models)"
    )
    with atomic_dir(out, force, STUDY, "a capacity study", inputs={"--shared": shared}) as tmp:
        write_parquet(df, tmp / PARQUET)
        plot_capacity(df, tmp / PLOT, title=title)
        (tmp / TABLE).write_text(table_markdown(df) + "\n")
        write_json(tmp / STUDY, study)
        write_provenance(tmp, {"shared": str(shared.resolve()), "trained": trained})
    return {"rows": df, "trained": trained, "cached": cached}


def dry_run(spec: CapacitySpec, shared: str | Path) -> str:
    """The plan, without training: every size's parameters, its learning rate, and how many of
    its models the shared directory already holds (all, if the world is not generated yet)."""
    from behemoth.experiments.config import WorldRecipe
    from behemoth.experiments.replicates import shared_model
    from behemoth.experiments.sweep.cache import artifact_dir
    from behemoth.model.build import build_model
    from behemoth.model.config import RunConfig
    from behemoth.model.export import META
    from behemoth.world import World, WorldConfig
    from behemoth.world.vocab import Vocabulary

    shared = Path(shared)
    wcfg = validate(WorldRecipe, {"set": spec.world}).resolved()
    wdir = artifact_dir(shared, "worlds", wcfg)
    world = World.load(wdir) if (wdir / "world.json").is_file() else None
    vocab = Vocabulary.from_config(WorldConfig.from_dict(wcfg)).size
    n_facts = wcfg["subjects"] * wcfg["relations"]
    lines = [
        f"world: {n_facts:,} facts, {wcfg['objects']} objects per relation "
        f"({n_facts * math.log2(wcfg['objects']):,.0f} bits), vocabulary {vocab:,}"
        + ("" if world else " (not generated yet)"),
    ]
    for w, d in spec.grid():
        cfg = RunConfig.from_dict(spec.recipe(w, d, 0).resolved())
        p_all, p_body = param_counts(build_model(cfg.model, vocab, 0))
        have = 0
        if world is not None:
            for i in range(spec.replicates):
                c = spec.recipe(w, d, i).resolved()
                have += (shared_model(shared, world, c, build=False) / META).is_file()
        lines.append(
            f"{w:>4} x {d} layers: {p_all:>10,} params ({p_body:,} non-embedding), "
            f"lr {cfg.train.lr:.2e}, {have}/{spec.replicates} trained in {shared}"
        )
    return "\n".join(lines)


def _sizes(text: str | None) -> list[list[int]] | None:
    if not text:
        return None
    out = []
    for part in text.split(","):
        try:
            w, d = part.lower().split("x")
            out.append([int(w), int(d)])
        except ValueError:
            raise ConfigError(
                "--sizes", f"{part!r} is not WIDTHxLAYERS", "write e.g. --sizes 32x2,256x6"
            ) from None
    return out


def main(argv: list[str] | None = None) -> int:
    from behemoth.experiments.replicates import default_cache
    from behemoth.progress import plain_stderr

    ap = argparse.ArgumentParser(
        prog="python -m behemoth.experiments.capacity", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--out", required=True, help="the study's directory (written atomically)")
    ap.add_argument(
        "--shared",
        default=None,
        help="where worlds and models are built once (a sweep's --shared directory reuses its "
        "models; default: $BEHEMOTH_CACHE, else ~/.cache/behemoth)",
    )
    ap.add_argument("--scale", default="cpu", help="the preset: cpu or paper")
    ap.add_argument("--replicates", type=int, default=None, help="trained models per size")
    ap.add_argument("--sizes", default=None, help="only these sizes: WIDTHxLAYERS,...")
    ap.add_argument("--force", action="store_true", help="replace an existing --out")
    ap.add_argument("--dry-run", action="store_true", help="print the plan, train nothing")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        changes: dict[str, Any] = {}
        if args.replicates is not None:
            changes["replicates"] = args.replicates
        sizes = _sizes(args.sizes)
        if sizes is not None:
            changes["sizes"] = sizes
        spec = preset_spec(args.scale, **changes)
        shared = Path(args.shared) if args.shared else default_cache()
        if args.dry_run:
            print(dry_run(spec, shared))
            print(CPU_NOTE if args.scale == "cpu" else "paper: for GPUs")
            return 0
        with plain_stderr("capacity"):
            res = run_capacity(spec, args.out, shared, force=args.force)
    except BehemothError as e:
        print(f"capacity: {e}", file=sys.stderr)
        return 2
    df = res["rows"]
    print(
        f"capacity: {len(df)} models ({res['trained']} trained, {res['cached']} found in "
        f"{shared}) -> {args.out}"
    )
    print(Path(args.out, TABLE).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "CapacitySpec",
    "PRESETS",
    "dry_run",
    "main",
    "measure_model",
    "preset_spec",
    "run_capacity",
]
