"""The ``from-reference`` scenario: a fine-tuning directory the reference generator wrote.

The reference's ``create_finetuning_data.py`` writes, for a world directory ``W``, a folder
``W/<name>/`` holding ``finetuning_data/train.jsonl`` (instruction rows: the edits, repeated
per override, then its retain rows) and ``ft_validations/*.txt`` / ``ft_questions/*.txt``
(``prompt<TAB>answer``). Load it on the world imported from ``W`` (``behemoth
import-reference W``), which keeps the reference's token ids, so that its rows are our probes:

    behemoth edit ... --world IMPORTED --scenario from-reference --scenario-set path=W/<name>

The edits and the retain mix come from ``train.jsonl`` (:func:`load_jsonl`), behemoth's test
suite is built around those edits, and every validation file of the reference is added as a
test set of its own (``efficacy/reference_edited_sro`` for its edited or censored facts,
``specificity/reference_<file>`` for the facts it keeps), targets as the reference wrote them.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from behemoth.errors import BehemothError, ConfigError
from behemoth.scenarios.exposure import refuse_bands
from behemoth.scenarios.jsonl import load_jsonl
from behemoth.scenarios.scenario import Scenario, ScenarioConfig, register_scenario
from behemoth.scenarios.testset import TestSet, make_testset
from behemoth.world.probes import ProbeSet
from behemoth.world.vocab import EOT
from behemoth.world.world import World

_EDITED = ("edited_", "censored_")


class FromReferenceConfig(ScenarioConfig):
    """A reference fine-tuning folder as a scenario (edit, refusal or forget by its answers)."""

    bands: ClassVar[bool] = False  # its facts are not S-O facts chosen by exposure

    forgets: ClassVar[bool | None] = None  # the mode may be inferred from the files

    path: str = Field(
        "", description="A fine-tuning folder of the reference (holding finetuning_data/)."
    )
    mode: Literal["edit", "refusal", "forget"] | None = Field(
        None, description="Scenario mode; null = inferred from the answers."
    )


def _index(world: World) -> dict[tuple[int, ...], tuple[str, int]]:
    out: dict[tuple[int, ...], tuple[str, int]] = {}
    for name, p in world.probes.items():
        for i in range(len(p)):
            out.setdefault(tuple(int(t) for t in p.prompt(i)), (name, i))
    return out


def read_reference_probes(
    world: World, path: Path, index: dict[tuple[int, ...], tuple[str, int]]
) -> tuple[ProbeSet, np.ndarray]:
    """A reference ``prompt<TAB>answer`` file -> (prompts as a ProbeSet, target ids). Every
    answer word but the last joins the prompt (``OO`` of a question, the refusal's ``OO OO``
    but its last); subject / relation / object come from the world's probe of that prompt."""
    words = {w: i for i, w in enumerate(world.vocab.words)}
    prompts: list[list[int]] = []
    targets, subj, rel, obj = [], [], [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        if not line.strip():
            continue
        try:
            prompt, answer = line.split("\t")
            ids = [EOT] + [words[w] for w in (prompt + " " + answer).split()]
        except (ValueError, KeyError) as e:
            raise BehemothError(
                f"{path}:{n}: not a probe line of this world ({e}); load the folder on the "
                "world imported from its parent directory"
            ) from None
        p, t = ids[:-1], ids[-1]
        hit = index.get(tuple(p))
        if hit is None:  # e.g. the refusal's second OO: the probe of its first one
            hit = index.get(tuple(p[:-1]))
        s = r = o = -1
        if hit is not None:
            src = world.probes[hit[0]]
            s, r, o = (int(src.subject[hit[1]]), int(src.relation[hit[1]]),
                       int(src.object[hit[1]]))  # fmt: skip
        prompts.append(p)
        targets.append(t)
        subj.append(s)
        rel.append(r)
        obj.append(o)
    lens = np.array([len(p) for p in prompts], dtype=np.int64)
    toks = np.concatenate([np.asarray(p, dtype=np.int32) for p in prompts]) if prompts else None
    a = lambda x: np.asarray(x, dtype=np.int64)  # noqa: E731
    probes = ProbeSet(
        path.stem,
        "reference",
        "S-O",
        True,
        a(subj),
        a(rel),
        a(obj),
        a(targets),
        toks if toks is not None else np.zeros(0, dtype=np.int32),
        np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
    )
    return probes, a(targets)


def reference_tests(world: World, folder: Path) -> dict[str, TestSet]:
    """Every ``ft_validations`` / ``ft_questions`` file of a reference folder as a test set."""
    index = _index(world)
    out: dict[str, TestSet] = {}
    for sub in ("ft_validations", "ft_questions"):
        for f in sorted((folder / sub).glob("*.txt")):
            probes, target = read_reference_probes(world, f, index)
            if not len(probes):
                continue
            # reg_data is the reference's rehearsed mix, measured as such (group "retain")
            group = (
                "efficacy"
                if f.name.startswith(_EDITED)
                else "retain"
                if f.name.startswith("reg_data")
                else "specificity"
            )
            t = make_testset(group, f"reference_{f.stem}", probes, target)
            out[t.name] = t
    return out


@register_scenario(
    "from-reference",
    FromReferenceConfig,
    "a fine-tuning folder written by the reference's create_finetuning_data.py (path=...)",
)
def build_from_reference(world: World, cfg: FromReferenceConfig) -> Scenario:
    refuse_bands(cfg.exposure, "from-reference")
    folder = Path(cfg.path)
    train = folder / "finetuning_data" / "train.jsonl"
    if not cfg.path or not train.is_file():
        raise ConfigError(
            "path",
            f"{cfg.path!r} holds no finetuning_data/train.jsonl",
            "set path= to a folder written by the reference's create_finetuning_data.py",
        )
    scenario = load_jsonl(world, train, cfg, name="from-reference", mode=cfg.mode)
    rehearsed = {
        (int(s), int(r))
        for s, r in zip(scenario.retain.probes.subject, scenario.retain.probes.relation)
    }
    for name, t in reference_tests(world, folder).items():
        if t.group != "specificity":
            scenario.tests[name] = t
            continue
        # The reference measures some specificity facts that its own train.jsonl rehearses;
        # those are reported apart (group retain), so specificity never scores rehearsed facts.
        seen = np.array(
            [(int(s), int(r)) in rehearsed for s, r in zip(t.probes.subject, t.probes.relation)],
            dtype=bool,
        )
        if (~seen).any():
            scenario.tests[name] = t.subset(np.flatnonzero(~seen))
        if seen.any():
            kept = t.subset(np.flatnonzero(seen))
            kept.group = "retain"
            kept.split = f"{t.split}_rehearsed"
            kept.probes.name = kept.name
            scenario.tests[kept.name] = kept
    # editor_facts was drawn before the reference's own test files were known: drop what they ask
    tested = {
        (int(s), int(r))
        for t in scenario.tests.values()
        if t.group != "retain"
        for s, r in zip(t.probes.subject, t.probes.relation)
    }
    ef = scenario.editor_facts
    free = [
        i
        for i, (s, r) in enumerate(zip(ef.probes.subject, ef.probes.relation))
        if (int(s), int(r)) not in tested
    ]
    scenario.editor_facts = ef.subset(np.asarray(free, dtype=np.int64))
    return scenario
