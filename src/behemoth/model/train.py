"""The training loop: a GPT-NeoX learns a world's facts from its corpus, until the probes say so.

One loop for CPU, one GPU or several (Hugging Face Accelerate; ``accelerate launch`` for
several: every process draws the same global batch from the seeded sampler and trains on its
own rows). AdamW (Loshchilov & Hutter 2019) with linear warmup then cosine decay (Loshchilov &
Hutter 2017, SGDR eq. 5, without restarts), global gradient-norm clipping, optional bf16
autocast. Every ``eval_every`` steps the model's greedy answer is scored on the world's probe
sets; training stops when the training template's accuracy reaches ``target_accuracy``.

While training, the run lives in ``<out>.partial/`` (checkpoint + live log); the finished model
directory replaces ``<out>`` atomically at the end, and the partial directory is removed.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from behemoth.errors import BehemothError, ConfigError, OutputExistsError
from behemoth.io import check_out, clean_leftovers, out_lock, read_json, write_json
from behemoth.model.build import build_model, count_params
from behemoth.model.checkpoint import TrainState, read_checkpoint, restore, save_checkpoint
from behemoth.model.config import RunConfig
from behemoth.model.evaluate import check_sets, default_target, probe_metrics
from behemoth.model.export import META, export_model
from behemoth.model.logplot import LOG, write_log
from behemoth.model.malloc import keep_freed_memory
from behemoth.progress import bars_enabled
from behemoth.threads import forward_work, gpt_params, training_threads
from behemoth.tracking import LogTarget, TrainingLog
from behemoth.world.exclude import mask_hash
from behemoth.world.vocab import PAD
from behemoth.world.world import World

log = logging.getLogger(__name__)
StepCallback = Callable[[int, dict[str, Any]], None]


def partial_dir(out: Path) -> Path:
    """Where an unfinished run keeps its checkpoint: ``<out>.partial`` next to ``out``."""
    return out.with_name(f"{out.name}.partial")


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Multiplier of the peak LR before optimizer step ``step`` (0-based): linear warmup, then
    cosine decay to ``min_ratio`` at ``total`` (SGDR eq. 5 with one cycle)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_optimizer(model: torch.nn.Module, cfg: RunConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices only (not biases, LayerNorms). With
    ``embedding_lr_scale`` != 1 the input embedding is a third group at that multiple of the
    peak rate (the schedule's factor applies to every group alike); at 1 the groups are the
    two they always were, so earlier checkpoints still resume. A larger rate for the input
    embedding than for hidden matrices is muP's rule for Adam (Yang et al. 2022, "Tensor
    Programs V", Table 3: input weights at rate eta, hidden weights at eta / fan_in)."""
    t = cfg.train
    embed = model.get_input_embeddings().weight  # type: ignore[operator]
    apart = t.embedding_lr_scale != 1.0
    decay = [p for p in model.parameters() if p.ndim >= 2 and not (apart and p is embed)]
    rest = [p for p in model.parameters() if p.ndim < 2]
    groups: list[dict[str, Any]] = [
        {"params": decay, "weight_decay": t.weight_decay},
        {"params": rest, "weight_decay": 0.0},
    ]
    if apart:
        groups.append(
            {"params": [embed], "weight_decay": t.weight_decay, "lr": t.lr * t.embedding_lr_scale}
        )
    return torch.optim.AdamW(groups, lr=t.lr, betas=(t.beta1, t.beta2), eps=t.eps, fused=True)


def train_step(
    acc: Any,
    model: torch.nn.Module,
    optimizer: Any,
    scheduler: Any,
    batch: torch.Tensor,
    grad_clip: float,
    bf16: bool,
) -> torch.Tensor:
    """One optimizer step of next-token cross-entropy on ``batch`` [b, T]; returns the loss."""
    with torch.autocast(device_type=batch.device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = model(input_ids=batch).logits  # [b, T, V]
    # next-token targets: position i predicts token i+1; the last position has none
    labels = F.pad(batch[:, 1:], (0, 1), value=-100)  # [b, T]
    flat = logits.float().view(-1, logits.shape[-1])
    padded = labels == PAD  # a retain oracle's excluded sentences (world/exclude.py)
    if bool(padded.any()):
        # No loss on padding, and each remaining token weighs what it weighs in the original
        # stream (the sum over the b (T - 1) targets the batch would have without exclusions),
        # so the oracle's gradient from every retained fact is the original's.
        labels = labels.masked_fill(padded, -100)
        total = F.cross_entropy(flat, labels.reshape(-1), ignore_index=-100, reduction="sum")
        loss = total / (batch.shape[0] * (batch.shape[1] - 1))
    else:  # the ordinary stream has no padding: the plain mean, bit for bit as before
        loss = F.cross_entropy(flat, labels.reshape(-1), ignore_index=-100)
    acc.backward(loss)
    if grad_clip > 0:
        acc.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return loss


def use_bf16(precision: str, device: torch.device) -> bool:
    if precision == "bf16":
        return True
    if precision == "auto":
        return device.type == "cuda" and torch.cuda.is_bf16_supported()
    return False


RUN = "run.json"


def _prepare_out(out: Path, resume: bool, force: bool) -> dict[str, Any] | None:
    """Check ``out`` and its partial directory; return what to resume from (``run`` = the
    interrupted run's config and world, ``checkpoint`` = its last checkpoint or None)."""
    part = partial_dir(out)
    check_out(out, force, META, "a trained model")
    check_out(part, True)  # no live run trains into the same place
    if part.exists():
        if resume and (part / RUN).is_file():
            return {"run": read_json(part / RUN), "checkpoint": read_checkpoint(part)}
        if not force and not resume:
            raise OutputExistsError(
                f"--out: an interrupted run is in {part}; pass --resume to continue it "
                "or --force to start over"
            )
        shutil.rmtree(part)
    elif resume:
        log.info("nothing to resume in %s: starting a new run", part)
    return None


def eval_line(rec: dict[str, Any], target: str, total: int, seconds: float) -> str:
    """One plain progress line of an evaluation during training (``train --no-progress``)."""
    loss = "-" if rec["train_loss"] is None else f"{rec['train_loss']:.3f}"
    sets = rec["sets"]
    accs = f"{target} acc {sets[target]['acc']:.3f}" if target in sets else ""
    return (
        f"train step {rec['step']}/{total} ({100 * rec['step'] / max(1, total):.0f}%), "
        f"{rec['tokens']:,} tokens, loss {loss}, {accs}, {seconds:.0f} s"
    )


def train_model(
    world: World | str | Path,
    cfg: RunConfig | None,
    out: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    on_step: StepCallback | None = None,
    exclude: np.ndarray | None = None,
    until_step: int | None = None,
    log: LogTarget | None = None,
) -> Path:
    """Train a model of ``cfg`` on ``world``; write the model directory ``out`` and return it.

    ``resume`` continues the run interrupted in ``<out>.partial`` (``cfg`` may then be None: the
    checkpoint's config is used; if given, it must equal it). ``on_step(step, info)`` is called
    after every optimizer step (info: loss, tokens; plus ``eval`` after an evaluation).

    ``exclude``: a fact-id mask (:mod:`behemoth.world.exclude`); no training sentence states an
    excluded edge (the retain oracle of unlearning). ``until_step``: stop after exactly this many
    steps (the learning-rate schedule still follows ``train.max_tokens``), e.g. to spend the token
    budget of another run. Both are recorded in the model's metadata.

    ``log``: where to log the training curves (:mod:`behemoth.tracking`); None = the choice of
    ``cfg.train.log`` / ``train.log_dir``, if any. Logging changes no weight.
    """
    out = Path(out)
    where = world.path if isinstance(world, World) else world
    # before the world is even loaded; never into (or around) the world it reads
    if resume and not force and (out / META).is_file() and not partial_dir(out).exists():
        check_out(out, True, inputs={"WORLD": where})  # still never its own world
        logging.getLogger(__name__).info(
            "nothing to resume: %s holds a finished model (--force trains it again)", out
        )
        return out
    check_out(out, force, META, "a trained model", inputs={"WORLD": where})
    if log is None and cfg is not None and cfg.train.log is not None:
        log = LogTarget.of(cfg.train.log, cfg.train.log_dir, out, "train.log")
    world = world if isinstance(world, World) else World.load(world)
    with out_lock(out):
        return _train_locked(
            world, cfg, out, resume, force, progress, on_step, exclude, until_step, log
        )


def _train_locked(
    world: World,
    cfg: RunConfig | None,
    out: Path,
    resume: bool,
    force: bool,
    progress: bool,
    on_step: StepCallback | None,
    exclude: np.ndarray | None = None,
    until_step: int | None = None,
    log: LogTarget | None = None,
) -> Path:
    """:func:`train_model` while holding the lock of ``out`` (and so of ``out.partial``)."""
    clean_leftovers(out)
    found = _prepare_out(out, resume, force)
    ckpt = None
    if found is not None:
        run = found["run"]
        if cfg is not None and cfg.to_dict() != run["config"]:
            raise ConfigError(
                "--resume",
                f"the config differs from the interrupted run's in {partial_dir(out)}",
                "resume with the same settings (or none), or pass --force to start over",
            )
        if run["world_fingerprint"] != world.fingerprint:
            raise BehemothError(
                f"WORLD: the interrupted run in {partial_dir(out)} trains on world "
                f"{run['world_fingerprint']}, not {world.fingerprint}; pass its world or --force"
            )
        if (run.get("excluded", "none"), run.get("until_step")) != (mask_hash(exclude), until_step):
            raise ConfigError(
                "--resume",
                f"the interrupted run in {partial_dir(out)} excludes other facts or stops elsewhere",
                "resume with the same exclusion and stop, or pass --force to start over",
            )
        cfg = RunConfig.from_dict(run["config"])
        ckpt = found["checkpoint"]
    if cfg is None:
        raise ConfigError(
            "config", "no config given and no run to resume", "pass a preset or a config"
        )
    keep_freed_memory()
    # threads from the free cores and the step's size, at most the recipe's train.threads
    # (behemoth.threads: --threads wins); the reproducible mode pins one and portable kernels
    m, t = cfg.model, cfg.train
    params = gpt_params(world.vocab_size, m.width, m.layers, m.mlp)
    work = forward_work(params, t.tokens_per_step)
    tlog = None if log is None else TrainingLog(log, out.name, cfg.to_dict())
    try:
        with training_threads(work, t.threads, t.reproducible):
            return _train(
                world, cfg, out, ckpt, progress, on_step, force, exclude, until_step, tlog
            )
    finally:
        if tlog is not None:
            tlog.close()


def _train(
    world: World,
    cfg: RunConfig,
    out: Path,
    ckpt: dict[str, Any] | None,
    progress: bool,
    on_step: StepCallback | None,
    force: bool,
    exclude: np.ndarray | None = None,
    until_step: int | None = None,
    tlog: TrainingLog | None = None,
) -> Path:
    from accelerate import Accelerator

    t = cfg.train
    probes = world.probes
    target = t.target_set or default_target(probes)
    eval_names = t.eval_sets if t.eval_sets is not None else list(probes)
    check_sets(probes, [target], "train.target_set")
    check_sets(probes, eval_names, "train.eval_sets")
    if target not in eval_names:
        eval_names = [target, *eval_names]

    acc = Accelerator(mixed_precision="no")
    if t.batch_size % acc.num_processes:
        raise ConfigError(
            "train.batch_size",
            f"{t.batch_size} does not split over {acc.num_processes} processes",
            "choose a multiple of the number of processes",
        )
    rows = t.batch_size // acc.num_processes
    rank_rows = slice(acc.process_index * rows, (acc.process_index + 1) * rows)
    bf16 = use_bf16(t.precision, acc.device)

    model = build_model(cfg.model, world.vocab_size, cfg.seed).to(acc.device)
    optimizer = make_optimizer(model, cfg)
    total = t.total_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, t.warmup_steps, total, t.min_lr_ratio)
    )
    sampler = world.sampler(
        t.seq_len, t.batch_size, source=t.data, exclude=exclude, order_seed=cfg.data_seed
    )
    state = TrainState()
    if ckpt is not None:
        state = restore(
            ckpt, model=model, optimizer=optimizer, scheduler=scheduler, sampler=sampler
        )
        log.info("resuming at step %d of %d (%s tokens)", state.step, total, f"{state.tokens:,}")
    ddp_model, optimizer = acc.prepare(model, optimizer)
    part = partial_dir(out)
    if acc.is_main_process:
        part.mkdir(parents=True, exist_ok=True)
        write_json(
            part / RUN,
            {
                "config": cfg.to_dict(),
                "world_fingerprint": world.fingerprint,
                "excluded": mask_hash(exclude),
                "until_step": until_step,
            },
        )
    tlog = tlog if acc.is_main_process else None
    if tlog is not None:  # only reads the records below: no weight depends on it
        tlog.start(state.step, state.tokens, state.seconds)

    def evaluate() -> dict[str, dict[str, float]]:
        return probe_metrics(model, probes, eval_names, t.eval_batch_size)

    def record(train_loss: float | None) -> dict[str, Any]:
        rec = {
            "step": state.step,
            "tokens": state.tokens,
            "lr": scheduler.get_last_lr()[0],
            "train_loss": train_loss,
            "epochs": getattr(sampler, "epochs", None),
            "sets": evaluate(),
        }
        state.log.append(rec)
        state.timeline.append([state.step, round(state.seconds + time.perf_counter() - t0, 3)])
        if acc.is_main_process:
            write_log(part / LOG, state.log)
            if tlog is not None:
                tlog.record(rec, state.timeline[-1][1])
            if not progress:  # no bar: one plain line per evaluation (the CLI logs INFO)
                log.info(eval_line(rec, target, total, state.timeline[-1][1]))
        return rec

    t0 = time.perf_counter()
    if state.step == 0 and not state.log:
        record(None)
    bar = tqdm(
        total=total,
        initial=state.step,
        unit="step",
        desc="train",
        disable=not (progress and acc.is_main_process and bars_enabled()),
        dynamic_ncols=True,
    )
    # the running loss stays on the device between evaluations (no sync per step); its value
    # at a checkpoint is saved so that a resumed run logs the same mean
    loss_sum = torch.full((), state.loss_sum, dtype=torch.float64, device=acc.device)
    model.train()
    while state.stopped is None:
        batch = torch.from_numpy(sampler.next_batch()[rank_rows]).to(acc.device)
        loss = train_step(acc, ddp_model, optimizer, scheduler, batch, t.grad_clip, bf16)
        state.step += 1
        state.tokens += t.tokens_per_step
        loss_sum += loss.detach()
        state.loss_n += 1
        info: dict[str, Any] = {"tokens": state.tokens}
        last = state.step >= (total if until_step is None else min(total, until_step))
        if state.step % t.eval_every == 0 or last:
            mean_loss = float(acc.reduce(loss_sum, reduction="mean").item()) / state.loss_n
            loss_sum.zero_()
            state.loss_n = 0
            rec = record(mean_loss)
            info["eval"] = rec
            tacc = rec["sets"][target]["acc"]
            bar.set_postfix(loss=f"{mean_loss:.3f}", **{target: f"{tacc:.3f}"})
            if t.target_accuracy is not None and tacc >= t.target_accuracy:
                state.stopped = (
                    f"{target} accuracy {tacc:.4f} >= {t.target_accuracy} at step {state.step}"
                )
            elif until_step is not None and state.step >= until_step:
                state.stopped = (
                    f"stopped at step {until_step} as asked, {target} accuracy {tacc:.4f}"
                )
            elif state.step >= total:
                state.stopped = (
                    f"token budget spent ({state.tokens:,} tokens), {target} accuracy {tacc:.4f}"
                )
        bar.update(1)
        if on_step is not None:
            on_step(state.step, info)
        if state.stopped is None and state.step % t.checkpoint_every == 0 and acc.is_main_process:
            state.seconds += time.perf_counter() - t0
            t0 = time.perf_counter()
            state.loss_sum = float(loss_sum)
            save_checkpoint(
                part,
                model=model,
                optimizer=optimizer,
                scheduler=scheduler,
                sampler=sampler,
                state=state,
                config=cfg.to_dict(),
                fingerprint=world.fingerprint,
            )
    bar.close()
    state.seconds += time.perf_counter() - t0
    acc.wait_for_everyone()
    if acc.is_main_process:
        _finish(model, world, cfg, out, state, target, force, exclude, until_step)
        shutil.rmtree(part, ignore_errors=True)
    acc.wait_for_everyone()
    return out


def check_finite(model: torch.nn.Module) -> None:
    """Refuse a model with any non-finite weight (inf or nan: training diverged, e.g. with a
    learning rate too large); nothing is written, and the message names the first parameter."""
    bad, total, first = 0, 0, None
    with torch.no_grad():
        for name, p in model.named_parameters():
            n = int((~torch.isfinite(p)).sum())
            total += p.numel()
            if n and first is None:
                first = name
            bad += n
    if bad:
        raise BehemothError(
            f"train.lr: training diverged: {bad:,} of {total:,} weights are not finite (inf or "
            f"nan; first in {first}), so no model was written; lower train.lr (or "
            "model.init_std, train.grad_clip) and train again"
        )


def _finish(
    model: torch.nn.Module,
    world: World,
    cfg: RunConfig,
    out: Path,
    state: TrainState,
    target: str,
    force: bool,
    exclude: np.ndarray | None = None,
    until_step: int | None = None,
) -> None:
    check_finite(model)  # before anything is scored or written
    last = state.log[-1]
    final = last["sets"]
    if set(final) != {n for n, p in world.probes.items() if len(p)}:
        # the log followed fewer sets (train.eval_sets): the result scores them all, once
        final = probe_metrics(model, world.probes, list(world.probes), cfg.train.eval_batch_size)
    reached = next(
        (
            r
            for r in state.log
            if cfg.train.target_accuracy is not None
            and r["sets"][target]["acc"] >= cfg.train.target_accuracy
        ),
        None,
    )
    meta = {
        "world": {"path": str(world.path.resolve()), "fingerprint": world.fingerprint},
        "seed": cfg.seed,
        "config": cfg.to_dict(),
        "vocab_size": world.vocab_size,
        "params": count_params(model),
        "excluded_facts": {
            "count": 0 if exclude is None else int(exclude.sum()),
            "hash": mask_hash(exclude),
        },
        "until_step": until_step,
        "result": {
            "stopped": state.stopped,
            "steps": state.step,
            "tokens": state.tokens,
            "epochs": last.get("epochs"),
            "target_set": target,
            "tokens_to_target": reached["tokens"] if reached else None,
            "final": final,
        },
    }
    seconds_to_target = None
    if reached is not None:
        seconds_to_target = next(s for st, s in state.timeline if st == reached["step"])
    prov = {
        "seconds": round(state.seconds, 3),
        "seconds_to_target": seconds_to_target,
        "threads": torch.get_num_threads(),
        "timeline": state.timeline,
    }
    export_model(model, world, out, meta=meta, log=state.log, provenance=prov, force=force)
