"""Pieces every scenario builder shares: relation checks, S-O requests, and the finished scenario.

``builders`` (edits, refusal) and ``forget`` (forget sets) both build on these, so neither
imports the other; nothing here imports a builder module.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from behemoth.errors import ConfigError
from behemoth.scenarios.render import edge_prompts, subject_spans
from behemoth.scenarios.request import EditRequest
from behemoth.scenarios.scenario import Scenario, ScenarioConfig
from behemoth.scenarios.suite import build_splits
from behemoth.world.world import World


class RelationConfig(ScenarioConfig):
    """Settings of a scenario about the facts of one relation."""

    relation: int = Field(
        0, ge=0, description="Relation of the facts edited, refused or forgotten."
    )


def check_relation(world: World, r: int, field: str = "relation") -> None:
    """Refuse a relation index the world does not have, naming ``field``."""
    if not 0 <= r < world.graph.n_relations:
        raise ConfigError(
            field,
            f"relation {r} does not exist (the world has {world.graph.n_relations})",
            f"choose 0..{world.graph.n_relations - 1}",
        )


def so_requests(
    world: World,
    template: str,
    subj: np.ndarray,
    rel: np.ndarray,
    new: np.ndarray,
    targets: np.ndarray | None = None,
) -> list[EditRequest]:
    """S-O edit requests (s, r) -> new object index (or explicit target tokens, new = -1)."""
    g, V = world.graph, world.vocab
    subj = np.asarray(subj, dtype=np.int64)
    rel = np.asarray(rel, dtype=np.int64)
    old = g.objects[subj, rel]
    p = edge_prompts(world, template, "S-O", subj, rel, old)
    spans = subject_spans(world, p)
    out = []
    for i in range(len(subj)):
        tgt = int(targets[i]) if targets is not None else int(V.object(int(rel[i]), int(new[i])))
        out.append(
            EditRequest(
                prompt=tuple(int(t) for t in p.prompt(i)),
                target_new=tgt,
                target_old=int(V.object(int(rel[i]), int(old[i]))),
                subject_span=(int(spans[i, 0]), int(spans[i, 1])),
                subject=int(subj[i]),
                relation=int(rel[i]),
                old_object=int(old[i]),
                new_object=int(new[i]) if targets is None else -1,
                kind="S-O",
                template=template,
            )
        )
    return out


def finish_scenario(
    world: World,
    name: str,
    mode: str,
    cfg: ScenarioConfig,
    requests: list[EditRequest],
    rng: np.random.Generator,
    held_out: np.ndarray | None = None,
    batches: list[list[int]] | None = None,
) -> Scenario:
    """The scenario of ``requests``: its test splits, retain mix and editor facts drawn by ``rng``."""
    sp = build_splits(world, requests, cfg, mode, rng, held_out=held_out)
    return Scenario(
        name,
        mode,
        {"scenario": name, **cfg.to_dict()},
        world.fingerprint,
        requests,
        sp.tests,
        sp.retain,
        batches or [],
        sp.editor_facts,
    )
