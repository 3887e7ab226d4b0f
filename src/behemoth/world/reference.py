"""Interoperability with the reference generator (IST-DASLab/behemoth, arXiv 2601.23153).

Export writes a behemoth world in the reference's text layout, so that LitGPT users and users
of the reference can train and evaluate on it::

    data/full_text_{i}.txt          the corpus, one pass, spelled as the reference spells it:
                                    " SS sa3 sb7 W0 W1 RR r2 W2 OO o2_5.<|endoftext|>" ...
    validations/*.txt               prompt<TAB>answer, one line per probe (sro.txt, rso.txt,
                                    subject_object_*.txt / subject_nested_object_*.txt /
                                    object_nested_object_*.txt in nested worlds)
    questions/default.txt, default_new.txt   questions of subjects trained with / without them
    metadata/relationship_graph.txt one S-O edge per line: "subject relation object minority
                                    nested", ``None`` where absent (the reference's untokenized
                                    graph format)
    metadata/tokenizer.json, tokenizer_config.json   *our* Hugging Face tokenizer
    metadata/metadata.json          graph_size, vocab_size (the tokenizer's true size, unlike
                                    the reference's, which is smaller), total_num_tokens (exact)
    metadata/args.json              the world's options under the reference's argument names
                                    (plus seed, max_subject_words, shard_units)
    metadata/subjects_with_questions.txt, object_nested_objects.txt   when the world has them
                                    (the latter is ours: f_r(o) for every object, which the
                                    reference's graph file only shows for objects in use)

Our words are not 4-digit numbers (``sa3``, ``r2``, ``o2_5``, ...), so the exported tokenizer is
ours, not a rebuild of the reference's BPE; it maps each word to its behemoth id, and the text
tokenizes with it to exactly the world's token stream. The text is written in bounded chunks of
the stream, so memory does not grow with ``repeats``.

Import reads a world the reference wrote (``metadata/relationship_graph.txt``, and when present
``metadata/args.json``, ``metadata.json``, ``other_special_tokens.json``,
``subjects_with_questions.txt`` and its tokenizer) and writes a behemoth world: graph.parquet,
probes, our tokenizer and a world.json whose config is inferred from the graph, with
``imported_from`` recording the source. The reference's own tokenizer and id remappings are
kept under ``reference/`` so its token ids can be related to ours. Import keeps every probe
file the reference wrote (:func:`check_probe_files`): a file of its ``validations/`` and
``questions/`` that is the file of one of the world's probe sets (nested worlds with
inversions: ``nested_sno_rso`` and ``nested_ono_rso`` too) must hold that set's probes (a line
of a fixed template that is no probe of the graph is refused, naming it); any other file (the
simple-repeats grammar's 432 ``si*_sj*_ri*_rj*_oi_*.txt``, one per filler count) is kept
verbatim, checksummed with the world's files and not scored. Export gives every such file
back: a set's file in the reference's line order, a kept one byte for byte.
Export then import gives
back the same world (same config, graph and fingerprint); the reference's own ``create_data.py
-g EXPORT`` reads an export's graph.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from behemoth.errors import BehemothError, ConfigError
from behemoth.io import atomic_dir, check_not_input, free_bytes, write_json
from behemoth.world.config import WorldConfig
from behemoth.world.corpus import Corpus
from behemoth.world.graph import Graph
from behemoth.world.probes import ProbeSet, build_probes
from behemoth.world.rng import derive_rng
from behemoth.world.templates import get_template, is_fixed
from behemoth.world.tokenizer import save_tokenizer
from behemoth.world.vocab import AA, DOT, EOT, Vocabulary
from behemoth.world.world import World, write_world

EXPORT_CHUNK_UNITS = 1 << 14
#: A probe file of the reference that no probe set of the world is written to is kept verbatim
#: if it holds at most this many times the bytes of the world's largest probe file (a simple-
#: repeats file, with the most filler words, is under twice its set's mean line); larger is
#: refused before reading.
KEPT_BOUND = 4
#: The folders of the reference's probe files.
PROBE_FOLDERS = ("validations", "questions")
log = logging.getLogger(__name__)
GRAPH_FILE = Path("metadata") / "relationship_graph.txt"
#: Ours only: "relation object nested" for every (relation, object), so import is exact.
NESTED_FILE = Path("metadata") / "object_nested_objects.txt"
_TEMPLATE_FILE = {"sro": "sro", "nonsense_sro": "sro", "rso": "rso", "nonsense_rso": "rso"}
_NESTED_PREFIX = {"S-O": "subject_object_", "S-NO": "subject_nested_object_",
                  "O-NO": "object_nested_object_"}  # fmt: skip
_PHRASE_CREATOR = {"sro": "inverted", "simple_repeats": "simplerepeats", "nonsense": "nonsense"}


# ----------------------------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------------------------
class TextSpeller:
    """Token ids -> the reference's spelling, vectorized: every word is preceded by a space,
    except "." and end-of-text, which follow the object directly (``" ... o.<|endoftext|>"``)."""

    def __init__(self, vocab: Vocabulary) -> None:
        pieces = [(" " + w).encode() for w in vocab.words]
        pieces[DOT] = b"."
        pieces[EOT] = vocab.words[EOT].encode()
        self.lengths = np.array([len(p) for p in pieces], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        self.table = np.frombuffer(b"".join(pieces), dtype=np.uint8)

    def spell(self, tokens: np.ndarray) -> bytes:
        lens = self.lengths[tokens]
        ends = np.cumsum(lens)
        total = int(ends[-1]) if len(ends) else 0
        # byte k of the output is byte (k - start of its token) of that token's piece
        offset = np.repeat(self.starts[tokens] - (ends - lens), lens)
        return self.table[offset + np.arange(total)].tobytes()


def _validation_files(probes: dict[str, ProbeSet], nested: bool) -> dict[str, ProbeSet]:
    """Probe set -> file name in the reference's layout (relative to the export root)."""
    out: dict[str, ProbeSet] = {}
    for name, p in probes.items():
        prefix = _NESTED_PREFIX.get(p.kind, "") if nested else ""
        if name in ("question", "question_new"):
            path = f"questions/{prefix}default{'_new' if name == 'question_new' else ''}.txt"
        elif name == "qa_new":
            path = f"validations/{prefix}qa_new.txt"
        else:
            path = f"validations/{prefix}{_TEMPLATE_FILE.get(p.template, p.template)}.txt"
        if path in out:  # another set already claims that name: fall back to the set's own
            path = f"{path.rsplit('/', 1)[0]}/{prefix}{name}.txt"
        out[path] = p
    return out


def validation_lines(p: ProbeSet, words: list[str]) -> list[str]:
    """``prompt<TAB>answer`` lines as the reference writes them: the prompt without our leading
    end-of-text, each word after a space; questions end before ``OO``, which opens the answer.

    Vectorized (a reference-sized world has 2.4x10^6 probes, and import checks every line the
    reference wrote against them): the rows become one token stream, ``prompt TAB answer NL``
    each, spelled at once and split into lines."""
    n = len(p)
    if n == 0:
        return []
    tab, nl = len(words), len(words) + 1
    starts, ends = p.offsets[:-1], p.offsets[1:]
    tokens = np.asarray(p.tokens, dtype=np.int64)
    lens = ends - starts
    drop = ((lens > 0) & (tokens[np.minimum(starts, len(tokens) - 1)] == EOT)).astype(np.int64)
    m = lens - drop  # prompt words written
    q = ((m >= 2) & (tokens[np.maximum(ends - 2, 0)] == AA)).astype(np.int64)
    width = m + 3  # the prompt's words, TAB, the answer, NL
    row_out = np.concatenate([[0], np.cumsum(width)[:-1]])
    out = np.empty(int(width.sum()), dtype=np.int64)
    k = np.arange(int(m.sum())) - np.repeat(np.cumsum(m) - m, m)  # word k of its row
    row = np.repeat(np.arange(n), m)
    # a question's last prompt word (OO) moves after the TAB: it opens the answer
    out[row_out[row] + k + (k >= (m - q)[row])] = tokens[starts[row] + drop[row] + k]
    out[row_out + m - q] = tab
    out[row_out + m + 1] = p.answer
    out[row_out + m + 2] = nl
    pieces = [" " + w for w in words] + ["\t", "\n"]
    return "".join(map(pieces.__getitem__, out.tolist())).split("\n")[:-1]


def graph_lines(graph: Graph) -> list[str]:
    """The reference's untokenized graph: one S-O edge per line, subject-major, ``None`` where
    an edge has no minority object or the world has no nesting."""
    S, R = graph.objects.shape
    nested = graph.nested_objects() if graph.nested else None
    lines = []
    for s in range(S):
        for r in range(R):
            m = int(graph.minority[s, r])
            n = "None" if nested is None else str(int(nested[s, r]))
            lines.append(f"{s} {r} {int(graph.objects[s, r])} {m if m >= 0 else 'None'} {n}")
    return lines


def reference_args(cfg: WorldConfig) -> dict[str, Any]:
    """The world's options under the reference's argument names (its ``metadata/args.json``)."""
    return {
        "subjects": cfg.subjects,
        "relationships": cfg.relations,
        "objects": cfg.objects,
        "repeats": cfg.repeats,
        "shuffle": cfg.shuffle,
        "inversion_frac": cfg.inversion_frac,
        "minority_position_entity_frac": cfg.minority_entity_frac,
        "minority_position_frac": cfg.minority_frac,
        "phrase_creator": _PHRASE_CREATOR[cfg.template],
        "questions_entity_frac": cfg.questions_entity_frac,
        "questions_frac": cfg.questions_frac,
        "correlated_pair": cfg.correlated_pair,
        "correlation_strength": cfg.correlation_strength,
        "binarize_first_correlated": cfg.binarize_first,
        "num_nested_objects": cfg.nested_objects,
        "obj_nested_obj_edges_upweight": cfg.nested_upweight,
        "seed": cfg.seed,
        # behemoth-only keys (the reference ignores them), so that import restores the world
        "max_subject_words": cfg.max_subject_words,
        "shard_units": cfg.shard_units,
        "exported_by": "behemoth",
    }


def reference_shard_count(cfg: WorldConfig) -> int:
    """Text shards the reference writes by default: one per 10^5 sentences (2x10^5 nested)."""
    per = 2e5 if cfg.nested_objects else 1e5
    return max(1, int(cfg.subjects * cfg.relations * cfg.repeats // per))


def reference_twin(world: World) -> tuple[WorldConfig, Vocabulary, Corpus, dict[str, ProbeSet]]:
    """The world in the reference's token ids: same graph, same random stream of sentences,
    only the ids (and so the spelling) change. A world already in that layout is itself."""
    if world.config.vocab == "reference":
        return world.config, world.vocab, world.corpus, world.probes
    try:
        cfg = WorldConfig.from_dict({**world.config.to_dict(), "vocab": "reference"})
    except ConfigError as e:
        raise BehemothError(f"this world cannot be written in the reference's words: {e}") from None
    vocab = Vocabulary.from_config(cfg)
    return cfg, vocab, Corpus(cfg, world.graph, vocab), build_probes(cfg, world.graph, vocab)


def _stored_order(world: World, rel: str, ours: set[str]) -> str | None:
    """The reference's own file for ``rel`` kept by import, when every one of its lines is a
    probe of this world (the reference shuffles its lines: this restores its order)."""
    path = world.path / "reference" / rel
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    return text if all(line in ours for line in text.split("\n") if line) else None


def verbatim_files(world: World, sets: set[str]) -> list[str]:
    """The reference's probe files an import kept verbatim under ``reference/`` (no probe set
    of ``world`` is written to them: ``sets`` are the files its sets give), which the export
    copies back byte for byte. Each must be a file world.json records (checksummed, so
    :meth:`World.load` checked its bytes); any other file there is refused, naming it, rather
    than left out of the export or copied unchecked."""
    kept = world.path / "reference"
    recorded = world.meta.get("files")
    recorded = recorded if isinstance(recorded, dict) else {}
    out = []
    for folder in PROBE_FOLDERS:
        for f in sorted((kept / folder).iterdir()) if (kept / folder).is_dir() else []:
            rel = f"{folder}/{f.name}"
            if rel in sets:
                continue
            if f"reference/{rel}" not in recorded or f.is_symlink() or not f.is_file():
                raise BehemothError(
                    f"WORLD: {f} is neither a probe file of this world nor a file its world.json "
                    "records, so the export would lose it or copy it unchecked; remove it, or "
                    "import the reference's folder again with this version of behemoth"
                )
            out.append(rel)
    return out


def _dump_reference_json(data: Any, indent: int | None = None) -> str:
    """JSON spelled as the reference's ``json.dump`` spells it (insertion order, no newline)."""
    return json.dumps(data, indent=indent)


def estimate_export_bytes(corpus: Any, speller: TextSpeller, sample: int = 2000) -> int:
    """Bytes of the exported text, roughly: the mean token count of a sample of the document
    stream's first documents (counted, not rendered), times the number of documents of one
    pass, times the mean spelled length of a word."""
    k = min(corpus.n_units, sample)
    if k == 0:
        return 0
    per_token = float(speller.lengths.mean())
    return int(corpus.count_tokens(0, k) / k * corpus.n_units * per_token)


def check_export_size(
    corpus: Any, speller: TextSpeller, out: str | Path, margin: float = 0.9
) -> None:
    """Refuse, before writing, an export larger than the free space where ``out`` goes."""
    need = estimate_export_bytes(corpus, speller)
    where, free = free_bytes(out)
    if need > margin * free:
        raise BehemothError(
            f"--out: the export would write about {need / 1e9:,.1f} GB of text "
            f"({corpus.n_units:,} documents) but {where} has {free / 1e9:,.1f} GB free; export "
            "a world with fewer repeats or subjects, or choose a disk with room"
        )


def export_reference(
    world: World | str | Path,
    out: str | Path,
    *,
    force: bool = False,
    units_per_shard: int | None = None,
    chunk_units: int = EXPORT_CHUNK_UNITS,
) -> dict[str, Any]:
    """Write ``world`` in the reference's layout and words into ``out`` (atomically); return
    its ``metadata.json`` content. One pass over the corpus, the same stream as the token
    shards, spelled with the reference's 4-digit word ids (see :func:`reference_twin`).

    ``units_per_shard`` defaults to the reference's shard count. For a world imported from the
    reference, its own metadata files and the order of its validation lines are given back."""
    if not isinstance(world, World):
        world = World.load(world)
    if chunk_units < 1 or (units_per_shard is not None and units_per_shard < 1):
        raise ConfigError("units_per_shard", "must be at least 1", "pass a positive number")
    cfg, vocab, corpus, probes = reference_twin(world)
    graph = world.graph
    layout = vocab.ref
    assert layout is not None
    n_shards = reference_shard_count(cfg)
    if units_per_shard is None:
        units_per_shard = max(1, -(-corpus.n_units // n_shards))
    speller = TextSpeller(vocab)
    check_export_size(corpus, speller, out)  # before anything is written
    kept = world.path / "reference"
    sets = _validation_files(probes, graph.nested)
    verbatim = verbatim_files(world, set(sets))
    with atomic_dir(
        out,
        force=force,
        marker="metadata/metadata.json",
        what="an export",
        inputs={"WORLD": world.path},
    ) as tmp:
        for sub in ("data", "validations", "questions", "metadata"):
            (tmp / sub).mkdir()
        tokens = sentences = shards = 0
        for i, a in enumerate(range(0, corpus.n_units, units_per_shard)):
            b = min(corpus.n_units, a + units_per_shard)
            shards += 1
            with open(tmp / "data" / f"full_text_{i}.txt", "wb") as f:
                for c in range(a, b, chunk_units):
                    ids = corpus.render_positions(c, min(b, c + chunk_units))
                    tokens += int(ids.size)
                    sentences += int(np.count_nonzero(ids == EOT))
                    f.write(speller.spell(ids))
        files = {rel: validation_lines(p, vocab.words) for rel, p in sets.items()}
        ours = {line for lines in files.values() for line in lines}
        for rel, lines in files.items():
            text = _stored_order(world, rel, ours)
            if text is None and not lines:
                continue
            (tmp / rel).write_text("\n".join(lines) if text is None else text, encoding="utf-8")
        for rel in verbatim:  # the reference's files no probe set is written to: as they were
            shutil.copyfile(kept / rel, tmp / rel)
        meta_dir = tmp / "metadata"
        (meta_dir / "relationship_graph.txt").write_text(
            "".join(line + "\n" for line in graph_lines(graph)), encoding="utf-8"
        )
        save_tokenizer(vocab, meta_dir)
        (meta_dir / "other_special_tokens.json").write_text(
            _dump_reference_json(layout.other_special_tokens, indent=4), encoding="utf-8"
        )
        (meta_dir / "remappings_map.json").write_text(
            _dump_reference_json(layout.remappings_map()), encoding="utf-8"
        )
        if graph.nested:
            R, O = graph.nested_of.shape
            (meta_dir / NESTED_FILE.name).write_text(
                "".join(
                    f"{r} {o} {int(graph.nested_of[r, o])}\n" for r in range(R) for o in range(O)
                )
            )
        if graph.question_subjects.any():
            qs = np.flatnonzero(graph.question_subjects)
            (meta_dir / "subjects_with_questions.txt").write_text("".join(f"{s}\n" for s in qs))
        # the reference's count (every document of its corpus is one sentence): words + 3 per
        # sentence - shards + 1, i.e. our tokens (words, ".", end-of-text) + sentences - shards + 1
        metadata = {
            "graph_size": int(graph.objects.size),
            "vocab_size": layout.vocab_size,
            "total_num_tokens": tokens + sentences - shards + 1,
        }
        (meta_dir / "metadata.json").write_text(_dump_reference_json(metadata), encoding="utf-8")
        write_json(meta_dir / "args.json", reference_args(world.config))
        for name in ("remappings_map.json", "args.json", "subjects_with_questions.txt"):
            if (kept / name).is_file():  # the reference's own, for an imported world
                shutil.copyfile(kept / name, meta_dir / name)
        write_json(
            meta_dir / "behemoth_world.json",
            {"fingerprint": world.fingerprint, "config": world.config.to_dict()},
        )
    return metadata


# ----------------------------------------------------------------------------------------------
# Import
# ----------------------------------------------------------------------------------------------
def _int_or_none(field: str, where: str) -> int | None:
    if field == "None":
        return None
    try:
        value = int(field)
    except ValueError:
        raise BehemothError(
            f"{where}: {field!r} is neither an integer nor None; the reference writes "
            "'subject relation object minority nested' per line"
        ) from None
    if value < 0:
        raise BehemothError(f"{where}: negative id {value}; ids must be 0 or more")
    return value


def read_reference_graph(path: str | Path, fields: int = 5) -> np.ndarray:
    """Parse ``relationship_graph.txt`` -> int64 [n_edges, 5] (s, r, o, minority, nested), -1
    for ``None``. Raises a one-line :class:`BehemothError` on malformed lines. With
    ``fields=3``, reads our ``object_nested_objects.txt`` (relation, object, nested) instead."""
    path = Path(path)
    expect = (
        "'subject relation object minority nested' (minority and nested may be None)"
        if fields == 5
        else "'relation object nested'"
    )
    rows = []
    with open(path, encoding="utf-8") as f:
        for k, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            where = f"{path}, line {k}"
            if not 3 <= len(parts) <= fields:
                raise BehemothError(f"{where}: {len(parts)} fields; expected {expect}")
            vals = [_int_or_none(x, where) for x in parts] + [None] * (fields - len(parts))
            if vals[0] is None or vals[1] is None or vals[2] is None:
                raise BehemothError(f"{where}: the first three fields must be integers")
            rows.append([-1 if v is None else v for v in vals])
    if not rows:
        raise BehemothError(f"{path}: the graph file has no edges; it must hold one per line")
    return np.asarray(rows, dtype=np.int64)


def _nested_table(
    edges: np.ndarray, R: int, O: int, M: int, notes: list[str], table: np.ndarray | None = None
) -> np.ndarray:
    """f_r(o) for every (relation, object). The reference's graph file only shows f_r(o) for
    objects some subject has; our exports add every (relation, object, nested) triple in
    ``metadata/object_nested_objects.txt`` (``table``). Without it, the others are assigned to
    the groups with room left, so that the M groups stay equal (O/M each), as the reference
    builds them."""
    nested_of = np.full((R, O), -1, dtype=np.int64)
    if table is not None:
        if (table.max(axis=0) >= [R, O, M]).any():
            raise BehemothError("object_nested_objects.txt: ids beyond the graph's counts")
        nested_of[table[:, 0], table[:, 1]] = table[:, 2]
    r, o, n = edges[:, 1], edges[:, 2], edges[:, 4]
    if table is None:
        nested_of[r, o] = n
    if (nested_of[r, o] != n).any():
        raise BehemothError(
            "relationship_graph.txt: one (relation, object) has two different nested objects; "
            "the nested object must be a function of the object"
        )
    missing = int((nested_of < 0).sum())
    if missing:
        size = O // M
        for rr in range(R):
            free = np.flatnonzero(nested_of[rr] < 0)
            room = np.maximum(size - np.bincount(nested_of[rr][nested_of[rr] >= 0], minlength=M), 0)
            fill = np.repeat(np.arange(M), room)[: len(free)]
            if len(fill) < len(free):  # unequal groups in the file: fill round-robin
                fill = np.concatenate([fill, np.arange(len(free) - len(fill)) % M])
            nested_of[rr, free] = fill
        notes.append(
            f"{missing} (relation, object) pairs no subject has: nested objects assigned to "
            "keep the groups equal"
        )
    return nested_of


def _read_optional_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise BehemothError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict):
        raise BehemothError(f"{path}: expected a JSON object")
    return data


def _question_subjects(meta: Path, S: int, cfg_args: dict[str, Any], seed: int) -> np.ndarray:
    q = np.zeros(S, dtype=bool)
    path = meta / "subjects_with_questions.txt"
    if path.is_file():
        for k, line in enumerate(path.read_text(encoding="utf-8").split(), 1):
            s = _int_or_none(line.strip("[],"), f"{path}, entry {k}")
            if s is None or s >= S:
                raise BehemothError(f"{path}, entry {k}: {line!r} is not a subject of the graph")
            q[s] = True
    elif float(cfg_args.get("questions_frac", 0) or 0) > 0:
        frac = float(cfg_args.get("questions_entity_frac", 0.5))
        q[derive_rng(seed, "questions").choice(S, size=int(round(frac * S)), replace=False)] = True
    return q


def infer_config(
    edges: np.ndarray, args: dict[str, Any], seed: int, notes: list[str]
) -> WorldConfig:
    """A WorldConfig for a reference graph: counts from the graph (raised to ``args.json``'s
    where it says more), corpus options from ``args.json`` when present, else the defaults."""
    S = int(edges[:, 0].max()) + 1
    R = int(edges[:, 1].max()) + 1
    O = int(max(edges[:, 2].max(), edges[:, 3].max())) + 1
    has_nested = edges[:, 4] >= 0
    if has_nested.any() and not has_nested.all():
        raise BehemothError(
            "relationship_graph.txt: some edges have a nested object and others None; "
            "a nested world gives every edge one"
        )
    M = int(edges[:, 4].max()) + 1 if has_nested.any() else 0
    S = max(S, int(args.get("subjects") or 0))
    R = max(R, int(args.get("relationships") or 0))
    O = max(O, int(args.get("objects") or 0))
    if M:
        M = max(M, int(args.get("num_nested_objects") or 0))
        if O % M:
            O = math.ceil(O / M) * M
            notes.append(f"objects rounded up to {O}, a multiple of the {M} nested objects")
    n_minority = int((edges[:, 3] >= 0).sum())
    creator = {v: k for k, v in _PHRASE_CREATOR.items()}
    template = creator.get(str(args.get("phrase_creator", "inverted")), "sro")
    data: dict[str, Any] = {
        "seed": seed,
        "subjects": S,
        "relations": R,
        "objects": O,
        "repeats": int(args.get("repeats", 500)),
        "shuffle": bool(args.get("shuffle", True)),
        "template": template,
        "inversion_frac": float(args.get("inversion_frac", 0.0)),
        "nested_objects": M,
        "nested_upweight": int(args.get("obj_nested_obj_edges_upweight", 1)),
        "minority_entity_frac": n_minority / (S * R),
        "minority_frac": float(args.get("minority_position_frac", 0.1)),
        "questions_frac": float(args.get("questions_frac", 0.0)),
        "questions_entity_frac": float(args.get("questions_entity_frac", 0.5)),
        "vocab": "reference",
    }
    for key in ("max_subject_words", "shard_units"):  # written by our exports only
        if key in args:
            data[key] = int(args[key])
    if args.get("correlated_pair"):
        data["correlated_pair"] = True
        data["correlation_strength"] = float(args.get("correlation_strength", 1.0))
        data["binarize_first"] = bool(args.get("binarize_first_correlated", False))
    if not args:
        notes.append("no metadata/args.json: corpus options (repeats, grammar, ...) are defaults")
    try:
        return WorldConfig.from_dict(data)
    except ConfigError as e:
        raise BehemothError(f"the imported world's options are invalid: {e}") from None


def graph_from_edges(
    edges: np.ndarray, cfg: WorldConfig, notes: list[str], nested_table: np.ndarray | None = None
) -> Graph:
    """The reference's edge list -> a :class:`Graph` (every (subject, relation) exactly once)."""
    S, R, O = cfg.subjects, cfg.relations, cfg.objects
    key = edges[:, 0] * R + edges[:, 1]
    counts = np.bincount(key, minlength=S * R)
    if (counts != 1).any():
        bad = int(np.flatnonzero(counts != 1)[0])
        raise BehemothError(
            f"relationship_graph.txt: (subject {bad // R}, relation {bad % R}) has "
            f"{int(counts[bad])} edges; every subject needs exactly one object per relation"
        )
    objects = np.empty((S, R), dtype=np.int64)
    minority = np.empty((S, R), dtype=np.int64)
    objects.reshape(-1)[key] = edges[:, 2]
    minority.reshape(-1)[key] = edges[:, 3]
    if cfg.nested_objects:
        nested_of = _nested_table(edges, R, O, cfg.nested_objects, notes, nested_table)
    else:
        nested_of = np.zeros((R, 0), dtype=np.int64)
    return Graph(objects, minority, nested_of, np.zeros(S, dtype=bool))


def _check_layout(meta_dir: Path, cfg: WorldConfig) -> None:
    """The reference's ``remappings_map.json`` must give the ids our reference layout gives."""
    remap = _read_optional_json(meta_dir / "remappings_map.json")
    if not remap:
        return
    layout = Vocabulary.from_config(cfg).ref
    assert layout is not None
    ours = layout.remappings_map()
    for key in ("subjects", "relationships", "objects", "subject_nested_relationships",
                "object_nested_relationships", "object_nested_objects"):  # fmt: skip
        if key in remap and remap[key] != ours.get(key):
            raise BehemothError(
                f"{meta_dir / 'remappings_map.json'}: its {key!r} token ids differ from the "
                "reference layout of this graph's counts; give a world written by the "
                "reference's create_data.py (or by behemoth export-reference)"
            )


def _refuse_links(src: Path, paths: list[Path]) -> None:
    """The files an import copies into the world are the reference's own: a symbolic link
    (to /etc/passwd, or another world's files) is refused, never followed."""
    for p in paths:
        if p.is_symlink():
            raise BehemothError(
                f"DIR: {p} is a symbolic link; an import copies only the files the reference "
                f"wrote into {src}: replace the link by the file or folder itself"
            )


def _text_bytes(p: ProbeSet, spelled: np.ndarray) -> int:
    """Bytes of the lines :func:`validation_lines` writes for ``p``, counted without writing
    them (``spelled``: each word's length with its leading space); the dropped end-of-text
    counts too, so this is a bound a few bytes per line above the file's size."""
    return int(spelled[p.tokens].sum() + spelled[p.answer].sum()) + 2 * len(p)


def _is_utf8(path: Path, block: int = 1 << 20) -> bool:
    """Whether the file is UTF-8 text, read in blocks (a kept file is never held whole)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(block), b""):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def check_probe_files(
    src: Path, cfg: WorldConfig, graph: Graph, notes: list[str]
) -> tuple[list[str], list[str]]:
    """Check every probe file the reference wrote (``validations/``, ``questions/``); return
    (the files of the world's probe sets, the files kept verbatim). Import keeps them all, and
    export gives each back.

    - A file one of the imported world's probe sets is written to must hold that set's probes:
      a line of a fixed template's file that is no probe of the graph is refused (the file
      comes from another world), naming it. Files of templates with random words (nonsense
      grammar) hold the reference's own draws: ours replace them, with a note.
    - A file no set is written to is kept verbatim (copied under ``reference/``, checksummed
      with the world's files, given back byte for byte by the export) and not scored: the
      simple-repeats grammar writes one file per filler count (``si1_sj0_ri1_rj0_oi_1.txt``
      ... 432 of them, each every fact again). As probe sets they would multiply the world's
      probes by 432 (2.6x10^8 rows for the reference's default 100,000 x 6 world), while the
      world's own ``simple_repeats`` set already draws its filler counts from those very 432
      patterns (reference-format.md, "simple repeats").
    - Refused before reading, in both cases: what is not a regular file (a folder, a pipe),
      a file larger than twice its set's text (kept: :data:`KEPT_BOUND` times the world's
      largest probe file), a file that is not UTF-8."""
    vocab = Vocabulary.from_config(cfg)
    probes = build_probes(cfg, graph, vocab)
    files = _validation_files(probes, graph.nested)
    lines: dict[str, set[str]] = {}
    spelled = np.array([len(w) + 1 for w in vocab.words], dtype=np.int64)
    largest = max((_text_bytes(p, spelled) for p in probes.values()), default=0)

    def ours(p: ProbeSet) -> list[set[str]]:
        """The lines a file of ``p`` may hold (the reference files questions of subjects
        trained with them in default_new.txt too, as it compares a subject key with subject
        numbers: either question set's lines count)."""
        group = ("question", "question_new") if p.name.startswith("question") else (p.name,)
        for name in group:
            if name in probes and name not in lines:
                lines[name] = set(validation_lines(probes[name], vocab.words))
        return [lines[name] for name in group if name in lines]

    checked: list[str] = []
    kept: list[str] = []
    for folder in PROBE_FOLDERS:
        if not (src / folder).is_dir():
            continue
        found = sorted((src / folder).iterdir())
        odd = [f for f in found if not f.is_file()]
        if odd:
            more = f" (and {len(odd) - 1} more)" if len(odd) > 1 else ""
            raise BehemothError(
                f"DIR: {odd[0]}{more} is no probe file (not a regular file: a folder, a pipe, "
                f"a device); an import copies only the files the reference wrote, so move it "
                f"out of {folder}/"
            )
        for f in found:
            rel = f"{folder}/{f.name}"
            p = files.get(rel)
            if p is None:
                allowed: list[set[str]] = []
                bound = KEPT_BOUND * largest + 4096
                what = f"{KEPT_BOUND} times the largest probe file of this world"
            else:
                allowed = ours(p)
                bound = 2 * sum(len(line) + 1 for group in allowed for line in group) + 4096
                what = f"twice the {p.name} probes it stands for"
            if f.stat().st_size > bound:  # before reading it
                raise BehemothError(
                    f"DIR: {f} has {f.stat().st_size:,} bytes, more than {what}; restore the "
                    "reference's file"
                )
            if not _is_utf8(f):
                raise BehemothError(f"DIR: {f} is not UTF-8 text; restore the reference's file")
            if p is None:
                kept.append(rel)
                continue
            text = f.read_text(encoding="utf-8").split("\n")
            bad = set(text) - {""}
            for group in allowed:
                bad -= group
            for k, line in enumerate(text, 1):
                if line not in bad:
                    continue
                if is_fixed(get_template(p.template)):
                    raise BehemothError(
                        f"DIR: {f}, line {k}: {line[:80]!r} is not a probe of "
                        f"{GRAPH_FILE}; the probe files and the graph come from different "
                        "worlds: give the folder create_data.py wrote, unchanged"
                    )
                notes.append(
                    f"{rel}: the reference's own random {p.template} words; the imported "
                    f"world's {p.name} probes are drawn again (its file is kept under reference/)"
                )
                break
            checked.append(rel)
    return checked, kept


def check_kept_size(files: list[Path], out: str | Path, margin: float = 0.9) -> None:
    """Refuse, before writing, an import whose copied reference files (its probe files, for a
    reference-sized simple-repeats world some 10^10 bytes) exceed the free space at ``out``."""
    need = sum(f.stat().st_size for f in files)
    where, free = free_bytes(out)
    if need > margin * free:
        raise BehemothError(
            f"--out: the import keeps {len(files):,} of the reference's files, "
            f"{need / 1e9:,.1f} GB, but {where} has {free / 1e9:,.1f} GB free; choose a disk "
            "with room"
        )


def import_reference(
    src: str | Path,
    out: str | Path,
    *,
    force: bool = False,
    seed: int | None = None,
    shards: bool = False,
) -> World:
    """Import a world the reference generator wrote (its directory) as a behemoth world.

    ``seed`` seeds the imported world's corpus stream (default: the ``seed`` in args.json, as
    our exports record it, else 0); the graph itself is taken as it is. Every probe file of the
    folder is kept (:func:`check_probe_files`, before anything is written): the files of the
    world's probe sets, checked against them, are listed in ``imported_from["probe_files"]``;
    the others, copied verbatim and not scored, in ``imported_from["kept_files"]`` (one log
    line counts them). Kept files that would not fit the free disk are refused up front."""
    src = Path(src)
    check_not_input(out, {"DIR": src})
    graph_path = src / GRAPH_FILE
    if not graph_path.is_file():
        raise BehemothError(
            f"DIR: {src} has no {GRAPH_FILE}; give the output directory of the reference's "
            "create_data.py (the one holding data/ and metadata/)"
        )
    meta_dir = src / "metadata"
    edges = read_reference_graph(graph_path)
    args = _read_optional_json(meta_dir / "args.json")
    ref_meta = _read_optional_json(meta_dir / "metadata.json")
    special = _read_optional_json(meta_dir / "other_special_tokens.json")
    if "graph_size" in ref_meta and int(ref_meta["graph_size"]) != len(edges):
        raise BehemothError(
            f"{graph_path}: {len(edges)} edges but metadata.json says graph_size="
            f"{ref_meta['graph_size']}; the graph file is incomplete"
        )
    if seed is None:
        seed = int(args.get("seed", 0) or 0)
    notes: list[str] = []
    cfg = infer_config(edges, args, seed, notes)
    table = None
    if (meta_dir / NESTED_FILE.name).is_file():
        table = read_reference_graph(meta_dir / NESTED_FILE.name, fields=3)
    graph = graph_from_edges(edges, cfg, notes, table)
    q = _question_subjects(meta_dir, cfg.subjects, args, seed)
    if cfg.questions_frac > 0 and not q.any():
        raise BehemothError(f"{meta_dir}: questions_frac > 0 but no subject has questions")
    graph = Graph(graph.objects, graph.minority, graph.nested_of, q)

    tokenizer_info: dict[str, Any] = {}
    extra: dict[str, Path] = {}
    for name in ("tokenizer.json", "tokenizer_config.json", "remappings_map.json",
                 "other_special_tokens.json", "metadata.json", "args.json",
                 "subjects_with_questions.txt"):  # fmt: skip
        if (meta_dir / name).is_file():
            extra[f"reference/{name}"] = meta_dir / name
    entries = [f for d in PROBE_FOLDERS if (src / d).is_dir() for f in sorted((src / d).iterdir())]
    _refuse_links(src, [meta_dir, *(src / d for d in PROBE_FOLDERS), *extra.values(), *entries])
    _check_layout(meta_dir, cfg)
    probe_files, kept_files = check_probe_files(src, cfg, graph, notes)
    for rel in probe_files + kept_files:  # their line order (or whole file), given back by export
        extra[f"reference/{rel}"] = src / rel
    check_kept_size(list(extra.values()), out)
    if (meta_dir / "tokenizer.json").is_file():
        from tokenizers import Tokenizer

        try:
            ref_tok = Tokenizer.from_file(str(meta_dir / "tokenizer.json"))
        except Exception as e:  # the tokenizers library raises plain Exceptions
            raise BehemothError(f"{meta_dir / 'tokenizer.json'}: not a tokenizer ({e})") from None
        tokenizer_info = {"vocab_size": ref_tok.get_vocab_size(with_added_tokens=True)}
        if "vocab_size" in ref_meta and ref_meta["vocab_size"] > tokenizer_info["vocab_size"]:
            notes.append(
                f"the reference's metadata.json says vocab_size={ref_meta['vocab_size']} but its "
                f"tokenizer has only {tokenizer_info['vocab_size']} ids"
            )
    imported = {
        "path": str(src.resolve()),
        "graph_sha256": hashlib.sha256(graph_path.read_bytes()).hexdigest(),
        "edges": len(edges),
        "reference_metadata": ref_meta,
        "reference_tokenizer": tokenizer_info,
        "reference_grammar_words": len(special),
        "args_json": bool(args),
        "probe_files": probe_files,
        "kept_files": kept_files,
        "notes": notes,
    }
    world = write_world(
        cfg,
        graph,
        out,
        force=force,
        shards=shards,
        extra_meta={"imported_from": imported},
        extra_files=extra,
    )
    if kept_files:
        log.info(
            "kept %d of the reference's probe files verbatim (%r%s): no probe set of this world "
            "reads them, so they are not scored; export-reference gives them back unchanged",
            len(kept_files),
            kept_files[0],
            f" ... {kept_files[-1]!r}" if len(kept_files) > 1 else "",
        )
    return world
