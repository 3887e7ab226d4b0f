"""One call with strings, as EasyEdit's ``editor.edit(prompts=..., target_new=...)``:

    >>> import behemoth
    >>> out = behemoth.edit("models/tiny", prompt="SS s7 W0 W1 RR r0 W2 OO", target="o0_3",
    ...                     editor="rome", layer=-2)
    >>> print(out.headline_text())       # efficacy / generalization / ... pre and post
    >>> out.model                        # the edited model (the one given is never changed)

Prompts and targets are written in the world's own words (:attr:`behemoth.world.vocab.
Vocabulary.words`): subjects ``s7`` (``sa0 sb7`` when a subject takes several tokens),
relations ``r0``, objects ``o0_3`` (object 3 of relation 0), grammar words ``W0``... A prompt is
one of the world's probe prompts up to its answer slot ``OO`` (``behemoth.world.World.probes``;
the leading ``<|endoftext|>`` may be left out): it is parsed into (subject, relation) by
matching it against the world's templates, and the edit is the ``single`` scenario of that
fact, so its test sets (paraphrases, the subject's other facts, other subjects' facts, nested
consequences) are those of every other run (Behemoth, Iofinova & Alistarh, arXiv 2601.23153).

The headline follows EasyEdit's names (Yao et al. 2023, "Editing Large Language Models:
Problems, Methods, and Opportunities", EMNLP, Sec. 2.2): efficacy (the edit prompt),
generalization (its paraphrases), portability (facts that should follow from it), locality
(facts that must not move: the edited subject's other facts and other subjects' facts, which
behemoth calls specificity), each pre- and post-edit with n; the accuracy of the top-1 answer
(the target's for efficacy / generalization, the right answer elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from behemoth.errors import BehemothError, ConfigError

#: The headline: EasyEdit's name -> (behemoth's test group, its metric). Locality is the
#: share of untouched facts whose top-1 answer is the unedited model's (EasyEdit's, Sec. 2.2);
#: specificity the share still answered with the world's answer.
HEADLINE: dict[str, tuple[str, str]] = {
    "efficacy": ("efficacy", "efficacy"),
    "generalization": ("generalization", "generalization"),
    "specificity": ("specificity", "specificity"),
    "portability": ("portability", "portability"),
    "locality": ("specificity", "locality"),
}


@dataclass
class ParsedFact:
    """A prompt read in the world's words: the fact (subject, relation), its template."""

    subject: int
    relation: int
    template: str
    old_object: int
    new_object: int


@dataclass
class HeadlineRow:
    name: str
    split: str
    metric: str
    pre: float | None
    post: float
    n: int
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass
class EditOutput:
    """What :func:`edit` returns: the edited model, the parsed fact, the headline, and every
    record (``records.to_pandas()``), plus the full :class:`ExperimentResult`."""

    model: Any
    fact: ParsedFact
    headline: list[HeadlineRow]
    records: Any
    result: Any = None
    words: dict[str, str] = field(default_factory=dict)

    def headline_text(self) -> str:
        """The headline as a small table (pre -> post, n)."""
        w = self.words
        lines = [
            f"edit {w.get('prompt', '')!s} -> {w.get('target', '')} (was {w.get('old', '')})",
            f"{'':<15} {'split':<30} {'pre':>6} {'post':>6} {'n':>6}",
        ]
        for r in self.headline:
            pre = "-" if r.pre is None else f"{r.pre:.3f}"
            lines.append(f"{r.name:<15} {r.split:<30} {pre:>6} {r.post:>6.3f} {r.n:>6}")
        lines.append(
            "shares of prompts whose top-1 answer is: the new target (efficacy, "
            "generalization), the world's answer (specificity), the implied new answer "
            "(portability), the unedited model's (locality)"
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.headline_text()


def parse_fact(world: Any, prompt: str, target: str) -> ParsedFact:
    """``prompt`` (the world's words up to ``OO``) and ``target`` (an object word) -> the fact
    and its new object; a prompt that is none of the world's templates is a one-line error
    showing what one looks like."""
    import numpy as np

    from behemoth.world.vocab import EOT

    V = world.vocab
    index = {w: i for i, w in enumerate(V.words)}
    words = prompt.split()
    unknown = [w for w in words if w not in index]
    first = next(iter(world.probes.values()))
    example = V.decode(first.prompt(0)[1:])
    if unknown:
        raise ConfigError(
            "prompt",
            f"{unknown[0]!r} is not a word of this world",
            f"write a probe prompt in the world's words, e.g. {example!r}",
        )
    ids = [index[w] for w in words]
    if ids and ids[0] != EOT:
        ids = [EOT, *ids]
    match = None
    toks = np.asarray(ids)
    for probes in world.probes.values():
        if probes.kind != "S-O":
            continue
        lengths = probes.lengths
        rows = np.flatnonzero(lengths == len(ids))
        if not rows.size:
            continue
        starts = probes.offsets[rows][:, None] + np.arange(len(ids))  # [rows, T]
        hit = rows[np.all(probes.tokens[starts] == toks, axis=1)]
        if hit.size:
            match = (probes, int(hit[0]))
            break
    if match is None:
        names = ", ".join(sorted({p.template for p in world.probes.values()}))
        raise ConfigError(
            "prompt",
            f"{prompt!r} matches no template of this world ({names})",
            f"write one of its probe prompts up to OO, e.g. {example!r}",
        )
    probes, row = match
    s, r = int(probes.subject[row]), int(probes.relation[row])
    old = int(probes.answer[row])
    if target not in index:
        raise ConfigError(
            "target",
            f"{target!r} is not a word of this world",
            f"write an object of relation {r}, e.g. {V.words[int(V.object(r, 0))]!r}",
        )
    tid = index[target]
    n_obj = world.config.objects
    first_obj = int(V.object(r, 0))
    if not first_obj <= tid < first_obj + n_obj:
        raise ConfigError(
            "target",
            f"{target!r} is not an object of relation {r} (the prompt's)",
            f"choose one of {V.words[first_obj]}..{V.words[first_obj + n_obj - 1]}",
        )
    new = tid - first_obj
    if tid == old:
        raise ConfigError(
            "target",
            f"{target!r} is already the answer of this fact",
            "choose another object of the same relation",
        )
    return ParsedFact(s, r, probes.template, int(world.graph.objects[s, r]), new)


def _headline(records: Any) -> list[HeadlineRow]:
    """One row per headline name and split: pre- and post-edit value, n, 95% interval."""
    rows = records.rows
    pre = {(r["metric"], r["split"]): r for r in rows if r.get("phase") == "pre"}
    out: list[HeadlineRow] = []
    for name, (group, metric) in HEADLINE.items():
        for r in rows:
            if r["group"] != group or r["metric"] != metric or r.get("phase", "post") != "post":
                continue
            p = pre.get((metric, r["split"]))
            out.append(
                HeadlineRow(
                    name,
                    r["split"],
                    metric,
                    None if p is None else float(p["value"]),
                    float(r["value"]),
                    int(r["n"]),
                    r.get("ci_low"),
                    r.get("ci_high"),
                )
            )
    return out


def edit(
    model: Any,
    prompt: str,
    target: str,
    editor: str = "rome",
    *,
    world: Any = None,
    seed: int = 0,
    device: str = "cpu",
    out: str | Path | None = None,
    **settings: Any,
) -> EditOutput:
    """Edit one fact of a behemoth model, named in the world's words, and evaluate it.

    ``model``: a model directory (its world is the one it records, or ``world``), or a loaded
    model with ``world`` (a :class:`~behemoth.world.World` or its directory). ``prompt``: a
    probe prompt of the world up to ``OO`` (e.g. ``"SS s7 W0 W1 RR r0 W2 OO"``); ``target``:
    the new object (``"o0_3"``). ``editor`` and ``**settings``: a registered editor and its
    settings (``behemoth editors NAME``). ``out``: also write the run there (as
    ``behemoth edit``). The model given is never changed; the edited one is returned.

    Off a terminal (a pipe, a log, a notebook) progress arrives as plain lines on stderr, with a
    ``behemoth.edit: working`` line whenever loading or editing was silent for
    ``BEHEMOTH_PROGRESS_EVERY`` seconds (:func:`behemoth.progress.plain_stderr`)."""
    from behemoth.progress import plain_stderr

    with plain_stderr("behemoth.edit"):
        return _edit(model, prompt, target, editor, world, seed, device, out, settings)


def _edit(
    model: Any,
    prompt: str,
    target: str,
    editor: str,
    world: Any,
    seed: int,
    device: str,
    out: str | Path | None,
    settings: dict[str, Any],
) -> EditOutput:
    from behemoth.config import validate
    from behemoth.experiments.config import ExperimentConfig
    from behemoth.experiments.load import load_any_model
    from behemoth.experiments.run import run_experiment
    from behemoth.world.world import World

    if isinstance(model, (str, Path)):
        model_dir = str(model)
        loaded = load_any_model(model_dir, None if world is None else str(world))
    else:
        if world is None:
            raise BehemothError(
                "world: a loaded model needs its world; pass world=World or its directory"
            )
        w = world if isinstance(world, World) else World.load(world)
        model_dir = str(getattr(getattr(model, "config", None), "_name_or_path", "") or "model")
        loaded = (model, w)
    fact = parse_fact(loaded[1], prompt, target)
    config = validate(
        ExperimentConfig,
        {
            "model": model_dir,
            "scenario": "single",
            "scenario_settings": {
                "subject": fact.subject,
                "relation": fact.relation,
                "new_object": fact.new_object,
                "template": fact.template,
                "seed": seed,
            },
            "editor": editor,
            "editor_settings": {**settings, "seed": seed},
            "device": device,
        },
    )
    result = run_experiment(config, out, loaded=loaded, run_name=f"{editor}:api")
    run = result.runs[0].run
    V = loaded[1].vocab
    words = {
        "prompt": prompt,
        "target": target,
        "old": V.words[int(V.object(fact.relation, fact.old_object))],
    }
    return EditOutput(run.model, fact, _headline(result.records), result.records, result, words)


__all__ = ["EditOutput", "HeadlineRow", "ParsedFact", "edit", "parse_fact"]
