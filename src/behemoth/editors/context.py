"""What a run hands an editor: :class:`EditContext`, passed to ``prepare`` and ``apply``.

Nothing is planted on an editor from outside: the world, the retain mix, the facts an editor
may use internally and the seed arrive here, typed. State that must outlive one batch (e.g.
AlphaEdit's keys of earlier edits, K_p) lives in the context's :class:`Lineage`, which belongs
to ONE run: a new run (or a bare ``apply`` without a context) starts from an empty lineage, so
an editor instance holds no memory of earlier edits and the same edit gives the same deltas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from behemoth.world.probes import ProbeSet
from behemoth.world.world import World

if TYPE_CHECKING:
    from behemoth.scenarios.scenario import Scenario
    from behemoth.scenarios.testset import TestSet


@dataclass
class Lineage:
    """State carried from one batch to the next of one run, in slots named by the editor."""

    slots: dict[str, dict[str, Any]] = field(default_factory=dict)

    def slot(self, owner: str) -> dict[str, Any]:
        """The mutable state of ``owner`` (an editor name) in this run, created empty."""
        return self.slots.setdefault(owner, {})


@dataclass
class EditContext:
    """The run's inputs to an editor.

    ``retain``: facts to keep while editing (a scenario's retain mix, disjoint from its test
    sets; None = the world's facts). ``editor_facts``: facts an editor may use internally
    (``scenario.editor_facts`` where a scenario provides it), disjoint from every test set.
    ``seed``: the run's seed (editors draw their own random choices from their config's seed).
    ``cache``: the root of on-disk caches an editor may keep (second-moment statistics under
    ``cache/stats``); None keeps nothing on disk. A machine-local path: it is the run's caller's
    choice (``ExperimentConfig.cache``, a sweep's shared directory), never an editor setting, so
    it never enters a run id.
    """

    world: World
    retain: ProbeSet | None = None
    editor_facts: TestSet | None = None
    seed: int | None = None
    lineage: Lineage = field(default_factory=Lineage)
    cache: Path | None = None

    @classmethod
    def for_scenario(
        cls,
        world: World,
        scenario: Scenario,
        seed: int | None = None,
        cache: str | Path | None = None,
    ) -> EditContext:
        """The context of one run of ``scenario``: its retain mix, its editor facts if any."""
        return cls(
            world=world,
            retain=scenario.retain.probes,
            editor_facts=scenario.editor_facts,
            seed=seed,
            cache=Path(cache) if cache is not None else None,
        )

    def fresh(self) -> EditContext:
        """The same inputs with an empty lineage (a new run)."""
        return EditContext(
            self.world, self.retain, self.editor_facts, self.seed, Lineage(), self.cache
        )

    def cache_dir(self, kind: str) -> Path | None:
        """``cache/kind`` (e.g. "stats"), or None when nothing is cached on disk."""
        return self.cache / kind if self.cache is not None else None
