"""The reference's instruction JSONL: export any scenario, and load one back from it.

Each line is ``{"instruction": prompt text, "input": "", "output": answer text}`` where the
text is the world's words (``world.vocab.decode``) joined by spaces. The prompt text is the
sentence up to and including ``OO``, without the leading end-of-text token the model sees
(loading adds it back; a leading ``<|endoftext|>`` is accepted too). Edit rows come first
(repeated ``repeat`` times, as the reference repeats a single edit 250 times), then the retain
mix. Loading tells edits from retain rows by comparing the output with the world's answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from behemoth.errors import BehemothError
from behemoth.scenarios.render import REFUSAL_TWIN, subject_spans
from behemoth.scenarios.request import EditRequest
from behemoth.scenarios.scenario import MODES, Scenario, ScenarioConfig
from behemoth.scenarios.suite import build_splits
from behemoth.scenarios.testset import TestSet, concat_probes, make_testset
from behemoth.world.probes import ProbeSet
from behemoth.world.rng import derive_rng
from behemoth.world.vocab import EOT, OO
from behemoth.world.world import World

_TWIN_OF = {v: k for k, v in REFUSAL_TWIN.items()}


def _text(world: World, ids: tuple[int, ...] | np.ndarray) -> str:
    words = [int(t) for t in ids]
    if words and words[0] == EOT:
        words = words[1:]
    return world.vocab.decode(words)


def scenario_rows(scenario: Scenario, world: World, repeat: int = 1) -> list[dict[str, str]]:
    """The scenario's training rows: edits (``repeat`` times), then the retain mix."""
    rows = []
    for _ in range(repeat):
        for q in scenario.requests:
            rows.append(
                {
                    "instruction": _text(world, q.prompt),
                    "input": "",
                    "output": world.vocab.decode([q.target_new]),
                }
            )
    rp = scenario.retain.probes
    for i in range(len(rp)):
        rows.append(
            {
                "instruction": _text(world, rp.prompt(i)),
                "input": "",
                "output": world.vocab.decode([int(rp.answer[i])]),
            }
        )
    return rows


def export_jsonl(scenario: Scenario, world: World, path: str | Path, repeat: int = 1) -> int:
    """Write the instruction JSONL; returns the number of lines."""
    rows = scenario_rows(scenario, world, repeat)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(path)
    return len(rows)


def export_probes(scenario: Scenario, world: World, directory: str | Path) -> list[Path]:
    """Test sets as the reference's probe files: ``<group>__<split>.txt``, ``prompt<TAB>answer``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for t in scenario.tests.values():
        p = d / f"{t.group}__{t.split}.txt"
        lines = [
            f"{_text(world, t.probes.prompt(i))}\t{world.vocab.decode([int(t.target[i])])}\n"
            for i in range(len(t))
        ]
        p.write_text("".join(lines))
        out.append(p)
    return out


def _prompt_index(world: World) -> dict[tuple[int, ...], tuple[str, int]]:
    """Every probe prompt of the world -> (probe-set name, row)."""
    out: dict[tuple[int, ...], tuple[str, int]] = {}
    for name, p in world.probes.items():
        for i in range(len(p)):
            out.setdefault(tuple(int(t) for t in p.prompt(i)), (name, i))
    return out


def load_jsonl(
    world: World,
    path: str | Path,
    cfg: ScenarioConfig | None = None,
    name: str = "jsonl",
    mode: str | None = None,
) -> Scenario:
    """Rebuild a scenario from an instruction JSONL of this world: requests, retain, all tests.

    ``mode`` ("edit", "refusal" or "forget") is inferred when not given: placeholder answers
    mean forgetting, refusal-filler answers mean refusal. A forget set whose answers are the
    refusal filler looks like a refusal set: pass ``mode="forget"`` to load it as one.
    """
    if mode is not None and mode not in MODES:
        raise BehemothError(
            f"mode: {mode!r} is not a scenario mode; choose one of {', '.join(MODES)}"
        )
    cfg = cfg or ScenarioConfig.from_dict({})
    words = {w: i for i, w in enumerate(world.vocab.words)}
    index = _prompt_index(world)
    V, g = world.vocab, world.graph
    reqs: dict[tuple[int, ...], EditRequest] = {}
    retain_rows: list[tuple[str, int]] = []
    lines = Path(path).read_text().splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            ids = [words[w] for w in row["instruction"].split()]
            out = [words[w] for w in row["output"].split()]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise BehemothError(
                f"{path}:{n}: not an instruction row of this world ({e}); "
                "export it from a scenario of the same world"
            ) from None
        if not out:
            raise BehemothError(f"{path}:{n}: the output is empty; it must hold the answer word")
        if len(out) > 1:  # the reference's answers: "OO o" (questions), "OO OO" (refusal)
            if all(t == OO for t in out):  # the filler is the last two; before them, the marker
                ids, out = ids + out[:-2], out[:1]
            else:
                ids, out = ids + out[:-1], out[-1:]
        prompt = tuple([EOT, *ids] if not ids or ids[0] != EOT else ids)
        hit = index.get(prompt)
        if hit is None:
            raise BehemothError(
                f"{path}:{n}: the prompt is no probe of this world; check the world path"
            )
        set_name, i = hit
        p = world.probes[set_name]
        tgt = out[0]
        if tgt == int(p.answer[i]):
            if p.kind == "S-O":
                retain_rows.append(hit)
            continue
        if prompt in reqs:
            continue
        reqs[prompt] = _request(world, p, i, prompt, tgt)
    requests = list(reqs.values())
    if not requests:
        raise BehemothError(
            f"{path}: no row changes an answer of the world, so there is no edit to load"
        )
    targets = {q.target_new for q in requests}
    if mode is not None:
        pass
    elif targets == {OO}:
        mode = "refusal"
    elif any(V.role_of(t) == "placeholder" for t in targets):
        mode = "forget"
    else:
        mode = "edit"
    retain = _retain(world, retain_rows)
    held = None
    if mode == "forget":
        r = requests[0].relation
        forgotten = np.zeros(g.n_subjects, bool)
        forgotten[[q.subject for q in requests]] = True
        in_retain = np.zeros(g.n_subjects, bool)
        m = retain.probes.relation == r
        in_retain[retain.probes.subject[m]] = True
        held = np.flatnonzero(~forgotten & ~in_retain)
    sp = build_splits(
        world, requests, cfg, mode, derive_rng(cfg.seed, name), held_out=held, retain=retain
    )
    return Scenario(
        name,
        mode,
        {"scenario": name, "source": str(path), **cfg.to_dict()},
        world.fingerprint,
        requests,
        sp.tests,
        sp.retain,
        editor_facts=sp.editor_facts,
    )


def _request(world: World, p: ProbeSet, i: int, prompt: tuple[int, ...], tgt: int) -> EditRequest:
    V = world.vocab
    one = p.subset(np.array([i]))
    span = subject_spans(world, one)[0]
    r = int(p.relation[i])
    template = p.template if p.kind == "S-O" else "sro"
    if p.kind == "O-NO":
        old = int(world.graph.nested_of[r, int(p.object[i])])
        new = tgt - int(V.nested_object(r, 0))
        return EditRequest(
            prompt,
            tgt,
            int(p.answer[i]),
            (int(span[0]), int(span[1])),
            -1,
            r,
            old,
            new,
            kind="O-NO",
            template=p.template,
        )
    new_obj = tgt - int(V.object(r, 0))
    if not 0 <= new_obj < world.config.objects:
        new_obj = -1
    if tgt == OO:
        template = _TWIN_OF.get(template, template)
    return EditRequest(
        prompt,
        tgt,
        int(p.answer[i]),
        (int(span[0]), int(span[1])),
        int(p.subject[i]),
        r,
        int(p.object[i]),
        new_obj,
        kind=p.kind,
        template=template,
    )


def _retain(world: World, rows: list[tuple[str, int]]) -> TestSet:
    """The retain rows (world probes answered with their own answers) as a TestSet."""
    seen = list(dict.fromkeys(rows))
    parts = []
    a = 0
    while a < len(seen):  # runs of rows from one probe set, kept in file order
        b = a
        while b < len(seen) and seen[b][0] == seen[a][0]:
            b += 1
        parts.append(world.probes[seen[a][0]].subset(np.array([i for _, i in seen[a:b]])))
        a = b
    allp = concat_probes(parts, "retain")
    allp.template = parts[0].template if parts else ""
    return make_testset("retain", "mix", allp)
