"""One editing run: apply an editor to a model, batch after batch, and evaluate.

Semantics are explicit (Gupta et al. 2024, arXiv 2401.07453, Sec. 3): the batches of a scenario
are applied one after another, each to the model the previous one produced; the unedited model
is frozen and only ever scored as the reference. With one batch this is one-shot (batch) editing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from behemoth.editors.base import Editor, EditResult
from behemoth.editors.context import EditContext
from behemoth.evaluation.cost import EditCost
from behemoth.evaluation.evaluate import evaluate, reference_scores
from behemoth.evaluation.records import Records
from behemoth.model.scoring import Scores
from behemoth.scenarios.scenario import Scenario
from behemoth.world.world import World


@dataclass
class EditRun:
    """The outcome of :func:`run_edit`: the last result (its model is the edited model), the
    evaluation records and a per-batch cost log."""

    result: EditResult
    records: Records
    batches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def model(self) -> torch.nn.Module:
        return self.result.model


def run_edit(
    model: torch.nn.Module,
    world: World,
    scenario: Scenario,
    editor: Editor,
    reference: dict[str, Scores] | None = None,
    *,
    run: str = "run",
    eval_every: int = 0,
    extra: dict[str, Any] | None = None,
    context: EditContext | None = None,
    on_batch: Callable[[int, list[int], EditResult], None] | None = None,
    on_checkpoint: Callable[[int, torch.nn.Module, Records], None] | None = None,
) -> EditRun:
    """Apply ``scenario``'s batches with ``editor`` (prepared on ``model``) and evaluate.

    Every batch gets the same :class:`EditContext`: the world, the scenario's retain mix
    (disjoint from the test sets, so replay-based editors never rehearse what is measured), its
    editor facts if any, and the run's lineage (what an editor carries from batch to batch).

    ``model`` is the unedited reference and is never modified. ``reference``: its scores on the
    scenario's test sets (computed here if not given). ``eval_every``: with several batches,
    also evaluate after every N batches (rows carry ``edits_applied``). ``context``: the run's
    context (default: :meth:`EditContext.for_scenario`). ``on_batch(i, batch, result)`` is called
    after batch ``i`` (request indices ``batch``) is applied; ``on_checkpoint(edits_applied,
    model, records)`` after each evaluation, with that checkpoint's records.
    """
    ref = reference if reference is not None else reference_scores(model, scenario)
    context = context if context is not None else EditContext.for_scenario(world, scenario)
    current, result = model, None
    batches: list[dict[str, Any]] = []
    records = Records()
    for i, batch in enumerate(scenario.batches):
        result = editor.apply(current, [scenario.requests[j] for j in batch], context)
        current = result.model
        batches.append(
            {
                "requests": len(batch),
                "wall_seconds": result.wall_seconds,
                "peak_memory_bytes": result.peak_memory_bytes,
                # the size of this batch's update (Gupta et al. 2024, Sec. 4: a jump in it marks
                # a disabling edit); deltas are relative to the model the batch was applied to
                "update_fro": result.update_fro,
                "info": result.info,
            }
        )
        if on_batch is not None:
            on_batch(i, list(batch), result)
        last = i == len(scenario.batches) - 1
        if last or (eval_every and (i + 1) % eval_every == 0):
            applied = sum(len(b) for b in scenario.batches[: i + 1])
            cost = EditCost(
                wall_time_s=sum(b["wall_seconds"] for b in batches),
                peak_memory_bytes=max(b["peak_memory_bytes"] for b in batches),
            )
            t0 = time.perf_counter()
            checkpoint = evaluate(
                current,
                world,
                scenario,
                ref,
                run=run,
                cost=cost,
                upto=None if last else applied,
                extra={"editor": editor.name, "batches_applied": i + 1, **(extra or {})},
            )
            if on_checkpoint is not None:
                on_checkpoint(applied, current, checkpoint)
            records.extend(checkpoint)
            batches[-1]["eval_seconds"] = time.perf_counter() - t0
    assert result is not None  # a scenario has at least one batch
    return EditRun(result, records, batches)
