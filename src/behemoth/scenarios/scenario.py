"""A scenario: edit requests, their test sets and the retain mix, plus the registry of builders.

A scenario is data built from a world by a named builder with a validated config: the same
(world, config, seed) always gives the same requests, tests and retain mix. Builders register
themselves with :func:`register_scenario` and are found by importing every module of the
package on the first lookup (like editors); :func:`build_scenario` resolves a config from
``--set`` overrides and runs one.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from behemoth.config import StrictConfig, resolve
from behemoth.registry import Registry
from behemoth.scenarios.exposure import ExposureBands
from behemoth.scenarios.request import EditRequest
from behemoth.scenarios.testset import GROUPS, TestSet, concat_probes, make_testset
from behemoth.world.probes import ProbeSet
from behemoth.world.vocab import Vocabulary
from behemoth.world.world import World

#: Kinds of scenario: change answers, replace them with the refusal filler, or forget them.
MODES = ("edit", "refusal", "forget")


class ScenarioConfig(StrictConfig):
    """Settings every scenario shares: the edit format, test-set sizes and the retain mix.

    Retain-mix defaults are the reference's proportions (Behemoth, edit sets): up to 150
    same-value subjects per edit, up to 500 same-relation facts per edit and 250 facts of other
    relations per edit, all from subjects that are not edited.
    """

    #: Whether the scenario forgets facts (a ``forgetting/forgotten`` test set): the only
    #: kind the retain oracle judges, so a sweep's ``oracle: true`` reaches these runs only.
    #: None: known only once built (a scenario loaded from files, its mode inferred).
    forgets: ClassVar[bool | None] = False
    #: Whether ``exposure`` bands can choose its facts (the others refuse a band).
    bands: ClassVar[bool] = True

    seed: int = Field(0, ge=0, description="Seed of every random choice of the scenario.")
    template: str = Field("sro", description="Format of the edit prompts (a statement template).")
    specificity_size: int | None = Field(
        None,
        ge=1,
        description="Facts sampled per specificity split; null = every fact of the world.",
    )
    retain_same_value: int = Field(
        150, ge=0, description="Retain facts per edit sharing its old value."
    )
    retain_same_relation: int = Field(
        500, ge=0, description="Retain facts of the edited relation, per edit."
    )
    retain_other: int = Field(250, ge=0, description="Retain facts of other relations, per edit.")
    retain_share: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Largest share of each pool the retain mix may take (the rest is held out for tests).",
    )
    editor_same_subject: int = Field(
        1,
        ge=0,
        description="Other-relation facts of each edited subject kept for editors (KL prompts), "
        "never tested; a subject always keeps one for the same_subject test.",
    )
    editor_other: int = Field(
        5,
        ge=0,
        description="Untouched facts per edit kept for editors (context, replay), never tested.",
    )
    exposure: ExposureBands | None = Field(
        None,
        description="Exposure bands {edit: [lo, hi], test: [lo, hi]}: quantiles of per-fact "
        "corpus occurrences the edited and the untouched tested facts come from; null = any "
        "(behemoth.scenarios.exposure).",
    )

    def to_dict(self) -> dict[str, Any]:
        """The settings; ``exposure`` only when set, so configs without a band (and the run ids
        hashed from them) are what they were before the setting existed."""
        d = super().to_dict()
        if d.get("exposure") is None:
            d.pop("exposure", None)
        return d


@dataclass
class Scenario:
    """Edit requests (in order), named test sets, the retain mix, the edit batches and the
    editor facts.

    ``retain`` (facts a tuning editor rehearses) and ``editor_facts`` (facts any editor may use
    internally: KL / essence prompts, context prefixes, replay) are disjoint from every test
    set, by (subject, relation) and by prompt; :func:`behemoth.scenarios.split.check_editor_inputs`
    enforces it for anything else an editor builds.
    """

    name: str
    mode: str
    config: dict[str, Any]
    world_fingerprint: str
    requests: list[EditRequest]
    tests: dict[str, TestSet]
    retain: TestSet
    batches: list[list[int]] = field(default_factory=list)
    editor_facts: TestSet = field(default_factory=lambda: no_editor_facts())

    def __post_init__(self) -> None:
        if not self.batches:
            self.batches = [list(range(len(self.requests)))]

    def edit_probes(self, vocab: Vocabulary | None = None) -> ProbeSet:
        """The requests as a ProbeSet (prompt -> new target), e.g. for fine-tuning."""
        return requests_probes(self.requests, vocab)

    def groups(self) -> dict[str, list[TestSet]]:
        out: dict[str, list[TestSet]] = {g: [] for g in GROUPS}
        for t in self.tests.values():
            out[t.group].append(t)
        return {g: v for g, v in out.items() if v}

    def summary(self) -> str:
        lines = [
            f"scenario {self.name} ({self.mode}): {len(self.requests)} requests in "
            f"{len(self.batches)} batch(es), retain mix {len(self.retain)} facts, "
            f"editor facts {len(self.editor_facts)}"
        ]
        for t in self.tests.values():
            lines.append(f"  {t.name:<40} {len(t):>7,}")
        return "\n".join(lines)


def no_editor_facts() -> TestSet:
    """An empty editor-fact set (a scenario built without one gives editors nothing to use)."""
    return make_testset("editor", "facts", concat_probes([]))


def requests_probes(
    requests: list[EditRequest], vocab: Vocabulary | None = None, name: str = "requests"
) -> ProbeSet:
    """Requests as a ProbeSet; O-NO rows get their slot object's index when ``vocab`` is given."""
    n = len(requests)
    lens = np.array([len(q.prompt) for q in requests], dtype=np.int64)
    toks = np.array([t for q in requests for t in q.prompt], dtype=np.int32)
    slot = [q.subject if q.kind != "O-NO" else -1 for q in requests]
    obj = [
        q.old_object if q.kind != "O-NO" else (slot_object(q, vocab) if vocab else -1)
        for q in requests
    ]
    tmpl = requests[0].template if n else ""
    kind = requests[0].kind if n else "S-O"
    return ProbeSet(
        name,
        tmpl,
        kind,
        False,
        np.array(slot, dtype=np.int64),
        np.array([q.relation for q in requests], dtype=np.int64),
        np.array(obj, dtype=np.int64),
        np.array([q.target_new for q in requests], dtype=np.int64),
        toks,
        np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
    )


def slot_object(q: EditRequest, vocab: Vocabulary) -> int:
    """The object index in the subject slot of an O-NO request (read from its prompt).

    O-NO requests carry the *nested* object indices in ``old_object``/``new_object``; the object
    whose nested value changes is the token at ``subject_span[0]``.
    """
    return int(q.prompt[q.subject_span[0]]) - int(vocab.object(q.relation, 0))


# -- registry ----------------------------------------------------------------------------------
Builder = Callable[[World, Any], Scenario]


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    config: type[ScenarioConfig]
    build: Builder
    description: str


def _discover() -> None:
    """Import every module of this package once (each builder module registers its scenarios).

    Found by listing the package's folder, not by an import list: a new scenario module is
    picked up by existing, and no module here imports a builder (the package has no import
    circle; tests/architecture/test_scenarios_acyclic.py).
    """
    folder = str(Path(__file__).parent)
    for info in pkgutil.iter_modules([folder], __name__.rsplit(".", 1)[0] + "."):
        importlib.import_module(info.name)


SCENARIOS: Registry[ScenarioSpec] = Registry("scenario", field="--scenario", loader=_discover)


def register_scenario(
    name: str, config: type[ScenarioConfig], description: str | None = None
) -> Callable[[Builder], Builder]:
    """Decorator: register a builder as ``name`` with its ``config`` class.

    The one-line description listed by ``behemoth scenarios`` is ``description``, or else the
    first paragraph of ``config``'s own docstring (a config without one is refused).
    """
    if description is None:
        doc = config.__dict__.get("__doc__")
        if not doc or not doc.strip():
            raise TypeError(f"scenario {name!r}: give a description or a docstring on {config}")
        description = " ".join(doc.strip().split("\n\n")[0].split())

    def deco(fn: Builder) -> Builder:
        SCENARIOS.add(name, ScenarioSpec(name, config, fn, description))
        return fn

    return deco


#: The paper each scenario's design comes from, for the listing (``behemoth scenarios``).
PAPERS: dict[str, str] = {
    "single": "Behemoth (Iofinova & Alistarh, arXiv 2601.23153): one edit of a known fact",
    "k-different": "Behemoth (Iofinova & Alistarh, arXiv 2601.23153): K edits with "
    "distinct old and new objects (batch editing as in MEMIT, Meng et al. 2023)",
    "k-identical": "Behemoth (Iofinova & Alistarh, arXiv 2601.23153): K edits sharing an "
    "old object, all sent to one new object",
    "stream": "Sequential editing (Gupta et al. 2024, 'Model Editing at Scale leads to "
    "Gradual and Catastrophic Forgetting', arXiv 2401.07453)",
    "refusal": "TOFU's refusal target (Maini et al. 2024, arXiv 2401.06121, Sec. 4)",
    "forget-relation": "Behemoth (Iofinova & Alistarh, arXiv 2601.23153): unlearning a "
    "relation, generalization on held-out subjects",
    "nested-ono": "Behemoth (Iofinova & Alistarh, arXiv 2601.23153): nested facts, "
    "ripple effects as in RippleEdits (Cohen et al. 2024, TACL)",
    "forget-facts": "TOFU (Maini et al. 2024, arXiv 2401.06121): a forget set of facts, a "
    "retain set held out",
    "forget-subjects": "TOFU (Maini et al. 2024, arXiv 2401.06121): forget every fact of "
    "a few subjects (TOFU's forget authors)",
    "forget-nested": "Behemoth (Iofinova & Alistarh, arXiv 2601.23153): forgetting facts "
    "and their nested consequences",
    "from-reference": "Behemoth (Iofinova & Alistarh, arXiv 2601.23153): the reference "
    "generator's fine-tuning data",
}


def scenario_paper(name: str) -> str:
    """The paper scenario ``name`` comes from ("" when none is recorded)."""
    return PAPERS.get(name, "")


def get_scenario(name: str) -> ScenarioSpec:
    return SCENARIOS.get_entry(name)


def scenario_names() -> list[str]:
    return SCENARIOS.names()


def build_scenario(
    world: World,
    name: str,
    overrides: list[str] | dict[str, Any] | None = None,
    seed: int | None = None,
) -> Scenario:
    """Build a registered scenario; ``overrides`` are ``KEY=VALUE`` strings or a dict."""
    spec = get_scenario(name)
    if isinstance(overrides, dict):
        data = dict(overrides)
        if seed is not None:
            data["seed"] = seed
        cfg = spec.config.from_dict(data)
    else:
        cfg = resolve(spec.config, None, None, overrides, seed)
    return spec.build(world, cfg)
