"""A world on disk: generate one, load one, summarize one.

Layout of a world directory::

    world.json            format, fully resolved config (with seed), vocabulary layout, counts
    provenance.json       versions, git revision, machine, time (the only non-reproducible file)
    graph.parquet         every edge: kind, subject, relation, object, minority, nested object
    probes.parquet        every probe: set, template, kind, edge, prompt ids, answer id
    exposure.parquet      occurrences of every edge per pass, per template and format
                          (behemoth.world.exposure; absent in worlds written before it)
    tokenizer.json, tokenizer_config.json   a Hugging Face fast tokenizer
    shards/               optional: the corpus as uint16/uint32 token arrays + index.json
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from behemoth.errors import BehemothError, ConfigError
from behemoth.io import (
    atomic_dir,
    check_out,
    clean_leftovers,
    free_bytes,
    read_json,
    write_json,
)
from behemoth.provenance import write_provenance
from behemoth.world.config import WorldConfig
from behemoth.world.corpus import Corpus
from behemoth.world.exposure import EXPOSURE_FILE, exposure_table, load_exposure, save_exposure
from behemoth.world.graph import Graph, sample_graph
from behemoth.world.pages import ordinary_pages
from behemoth.world.probes import ProbeSet, build_probes, load_probes, save_probes
from behemoth.world.sampler import ShardSampler, StreamSampler
from behemoth.world.shards import write_shards
from behemoth.world.tokenizer import save_tokenizer
from behemoth.world.vocab import Vocabulary

if TYPE_CHECKING:
    import pandas as pd

FORMAT = "behemoth-world"
FORMAT_VERSION = 1
log = logging.getLogger(__name__)


@dataclass
class World:
    """A loaded world: config, vocabulary, graph and probes, and its corpus as a stream."""

    path: Path
    config: WorldConfig
    meta: dict[str, Any]

    @classmethod
    def load(cls, path: str | Path) -> World:
        """Load and check a world directory: world.json must be a behemoth world file, and
        every file a later stage reads must be there and (for worlds that record checksums)
        hold exactly the bytes that were generated."""
        path = Path(path)
        meta_path = path / "world.json"
        if not path.is_dir():
            raise BehemothError(
                f"WORLD: {path} is not a directory; give a world directory from `behemoth generate`"
            )
        if not meta_path.is_file():
            raise BehemothError(
                f"WORLD: {path} is not a behemoth world (no world.json); run `behemoth generate` first"
            )
        meta = read_json(meta_path, "WORLD:")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise BehemothError(f"WORLD: {meta_path} is not a behemoth world file")
        for key in ("config", "fingerprint", "counts", "vocab", "probes"):
            if key not in meta:
                raise BehemothError(
                    f"WORLD: {meta_path} lacks {key!r} (damaged?); regenerate the world"
                )
        try:
            cfg = WorldConfig.from_dict(meta["config"])
        except ConfigError as e:
            raise BehemothError(
                f"WORLD: {meta_path} holds an invalid config ({e}); regenerate the world"
            ) from None
        _check_files(path, meta)
        return cls(path, cfg, meta)

    @cached_property
    def vocab(self) -> Vocabulary:
        return Vocabulary.from_config(self.config)

    @property
    def vocab_size(self) -> int:
        return self.vocab.size

    @property
    def fingerprint(self) -> str:
        """Identifies the world's content (config + graph hash); models record it."""
        return str(self.meta["fingerprint"])

    @cached_property
    def graph(self) -> Graph:
        return _read(self.path / "graph.parquet", Graph.load)

    @cached_property
    def probes(self) -> dict[str, ProbeSet]:
        return _read(self.path / "probes.parquet", load_probes)

    @cached_property
    def corpus(self) -> Corpus:
        return Corpus(self.config, self.graph, self.vocab)

    @cached_property
    def exposure(self) -> pd.DataFrame:
        """Occurrences of every edge in one corpus pass, per template, format and object
        (:func:`behemoth.world.exposure.load_exposure`: the recorded table, or counted now for a
        world written before it was recorded)."""
        return _read(self.path / EXPOSURE_FILE, lambda _: load_exposure(self))

    def tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        return _read(self.path, lambda p: AutoTokenizer.from_pretrained(str(p)))

    def sampler(
        self,
        seq_len: int,
        batch_size: int,
        source: str = "stream",
        exclude: np.ndarray | None = None,
        order_seed: int = 0,
    ) -> StreamSampler | ShardSampler:
        """Training batches: ``stream`` renders on the fly; ``shards`` reads the written shards.

        ``exclude`` (stream only): a fact-id mask (:mod:`behemoth.world.exclude`) of edges no
        training sentence may state. ``order_seed`` (stream only): another order of the same
        documents (0: the world's own, the shards' order)."""
        if order_seed and source != "stream":
            raise BehemothError(
                "data_seed: shards hold the world's own order; another order needs data=stream"
            )
        if exclude is not None and exclude.any():
            if source != "stream":
                raise BehemothError(
                    "data: shards hold every fact; excluding facts needs data=stream"
                )
            corpus = Corpus(
                self.config, self.graph, self.vocab, exclude=exclude, order_seed=order_seed
            )
            return StreamSampler(corpus, seq_len, batch_size)
        if order_seed:
            corpus = Corpus(self.config, self.graph, self.vocab, order_seed=order_seed)
            return StreamSampler(corpus, seq_len, batch_size)
        if source == "stream":
            return StreamSampler(self.corpus, seq_len, batch_size)
        if source == "shards":
            idx = self.path / "shards" / "index.json"
            if not idx.is_file():
                raise BehemothError(
                    f"data: {self.path} has no shards; regenerate with shards or use data=stream"
                )
            return ShardSampler(self.path / "shards", read_json(idx), seq_len, batch_size)
        raise BehemothError(f"data: unknown source {source!r}; use 'stream' or 'shards'")

    def summary(self) -> str:
        return format_summary(self.meta)


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# The files every later stage relies on; world.json records their SHA-256 ("files").
CHECKED_FILES = ("graph.parquet", "probes.parquet", "tokenizer.json", "tokenizer_config.json")
#: The shard index (which records every shard's size and SHA-256) when shards are written.
SHARD_INDEX = "shards/index.json"
T = TypeVar("T")


def _check_files(path: Path, meta: dict[str, Any]) -> None:
    """Refuse a world whose files are missing or differ from what was generated.

    Checksums are mandatory: every world this version writes records them, and a world.json
    without them (or with some missing) is refused, unless a person marked the world as
    legacy by hand (``"legacy": true`` in world.json): its files are then read unchecked, with
    a warning. Other recorded files (the shard index) are checked when present."""
    sums = meta.get("files")
    legacy = meta.get("legacy") is True
    if not isinstance(sums, dict) or not all(isinstance(sums.get(n), str) for n in CHECKED_FILES):
        if not legacy:
            raise BehemothError(
                f"WORLD: {path / 'world.json'} records no checksums of its files ('files'), so "
                "they cannot be checked; regenerate the world (or, for a world written before "
                'checksums, add "legacy": true to world.json to read it unchecked)'
            )
        log.warning("world %s is marked legacy: its files are read without checksums", path)
        sums = {}
    for name in CHECKED_FILES:
        f = path / name
        if not f.is_file():
            raise BehemothError(f"WORLD: {f} is missing; regenerate the world")
    for name, want in sums.items():
        if not _recordable(name):
            raise BehemothError(
                f"WORLD: {path / 'world.json'} records a checksum of {name!r}, which is no "
                "file of a world; regenerate the world"
            )
        f = path / name
        if name == SHARD_INDEX and not f.is_file():
            continue  # the optional shards were removed: never read
        if not f.is_file():
            raise BehemothError(f"WORLD: {f} is missing; regenerate the world")
        if not isinstance(want, str) or _sha(f) != want:
            raise BehemothError(
                f"WORLD: {f} is not the file this world was generated with (checksum differs: "
                "damaged or replaced); regenerate the world"
            )


def _recordable(name: str) -> bool:
    """A file world.json may record a checksum of: the checked files, the shard index, the
    reference's files kept by an import (never outside the world's directory)."""
    parts = Path(name).parts
    inside = bool(parts) and not Path(name).is_absolute() and ".." not in parts
    return inside and (
        name in CHECKED_FILES or name in (SHARD_INDEX, EXPOSURE_FILE) or parts[0] == "reference"
    )


def _read(path: Path, load: Callable[[Path], T]) -> T:
    """``load(path)``, with any error of the file's format as one line naming the file."""
    try:
        return load(path)
    except BehemothError:
        raise
    except Exception as e:
        text = " ".join(str(e).split())[:200] or type(e).__name__
        raise BehemothError(
            f"WORLD: {path} cannot be read ({type(e).__name__}: {text}); regenerate the world"
        ) from None


def _config_key(cfg: WorldConfig) -> str:
    """The config part of the fingerprint; ``vocab`` only counts when it is not the default,
    so that worlds made before the option existed keep their fingerprints."""
    return cfg.model_dump_json(exclude={"vocab"} if cfg.vocab == "behemoth" else None)


def generate_world(
    cfg: WorldConfig,
    out: str | Path,
    *,
    shards: bool = True,
    force: bool = False,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    force_size: bool = False,
) -> World:
    """Generate a world into ``out`` (atomically: all or nothing) and return it loaded."""
    existing = _same_world(out, cfg, shards)
    if existing is not None and not force:
        clean_leftovers(out)
        log.info("%s already holds this world (same config and seed); nothing to do", out)
        return existing
    check_out(out, force, "world.json", "a different world")
    if not force_size:
        check_memory(cfg)
    return write_world(
        cfg,
        sample_graph(cfg),
        out,
        shards=shards,
        force=force,
        workers=workers,
        progress=progress,
        force_size=force_size,
    )


def write_world(
    cfg: WorldConfig,
    graph: Graph,
    out: str | Path,
    *,
    shards: bool = True,
    force: bool = False,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    extra_meta: dict[str, Any] | None = None,
    extra_files: dict[str, Path] | None = None,
    force_size: bool = False,
) -> World:
    """Write the world of ``graph`` (sampled from ``cfg``, or imported) into ``out``, atomically:
    graph.parquet, probes, tokenizer, optional shards, world.json and provenance.json.
    ``extra_files`` (relative name -> source) are copied in; ``extra_meta`` joins world.json.
    Shards that would not fit the free disk are refused with the estimate unless ``force_size``."""
    t0 = time.perf_counter()
    vocab = Vocabulary.from_config(cfg)
    corpus = Corpus(cfg, graph, vocab)
    check_out(out, force, "world.json", "a different world")
    if shards and not force_size:
        check_disk(corpus, out)
    with (
        ordinary_pages(),
        atomic_dir(out, force=force, marker="world.json", what="a different world") as tmp,
    ):
        made: dict[str, dict[str, ProbeSet]] = {}

        def probe_file() -> None:
            made["probes"] = build_probes(cfg, graph, vocab)
            save_probes(made["probes"], tmp / "probes.parquet")

        def graph_files() -> None:
            graph.save(tmp / "graph.parquet")
            save_tokenizer(vocab, tmp)

        def exposure_file() -> None:
            save_exposure(exposure_table(corpus), tmp / EXPOSURE_FILE)

        shard_index = None
        if shards:  # the other files are written while the shard workers run
            shard_index = write_shards(
                corpus,
                tmp / "shards",
                workers=workers,
                progress=progress,
                alongside=(probe_file, graph_files, exposure_file),
            )
            write_json(tmp / "shards" / "index.json", shard_index)
        else:
            probe_file()
            graph_files()
            exposure_file()
        probes = made["probes"]
        for rel, src in (extra_files or {}).items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, tmp / rel)
        sums = {name: _sha(tmp / name) for name in CHECKED_FILES}
        if shard_index is not None:
            sums[SHARD_INDEX] = _sha(tmp / SHARD_INDEX)
        sums[EXPOSURE_FILE] = _sha(tmp / EXPOSURE_FILE)
        sums.update({rel: _sha(tmp / rel) for rel in sorted(extra_files or {})})
        fingerprint = hashlib.sha256(
            (_config_key(cfg) + sums["graph.parquet"]).encode()
        ).hexdigest()[:16]
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "fingerprint": fingerprint,
            "config": cfg.to_dict(),
            "vocab": vocab.to_json(),
            "counts": {
                "subjects": graph.n_subjects,
                "relations": graph.n_relations,
                "facts": int(graph.objects.size),
                "nested_facts": int(graph.objects.size + graph.nested_of.size)
                if graph.nested
                else 0,
                "minority_edges": int((graph.minority >= 0).sum()),
                "question_subjects": int(graph.question_subjects.sum()),
                "documents_per_pass": corpus.n_units,
                "sentences_per_pass": corpus.n_sentences,
                "tokens_written": shard_index["tokens"] if shard_index else None,
                # only with an exposure other than uniform: older worlds' files stay as they were
                **_repeat_summary(corpus),
            },
            "probes": {name: len(p) for name, p in probes.items()},
            "files": sums,
            **(extra_meta or {}),
        }
        write_json(tmp / "world.json", meta)
        write_provenance(tmp, {"seconds": round(time.perf_counter() - t0, 3)})
    # as World.load reads it, without hashing again the files just written and hashed
    return World(Path(out), cfg, read_json(Path(out) / "world.json", "WORLD:"))


def _repeat_summary(corpus: Corpus) -> dict[str, Any]:
    """Least, mean and largest copies of an S-O fact per pass, when they differ by fact."""
    c = corpus.fact_counts
    if c is None:
        return {}
    return {"fact_repeats": {"min": int(c.min()), "mean": float(c.mean()), "max": int(c.max())}}


def estimate_shard_bytes(corpus: Corpus, sample: int = 2000) -> int:
    """Bytes the token shards of one corpus pass will take: the mean length of a sample of
    the (shuffled) document stream, times the number of documents, times the token width."""
    k = min(corpus.n_units, sample)
    if k == 0:
        return 0
    tokens = corpus.count_tokens(0, k)
    itemsize = np.dtype(corpus.vocab.dtype).itemsize
    return int(tokens / k * corpus.n_units * itemsize)


def check_disk(corpus: Corpus, out: str | Path, margin: float = 0.9) -> None:
    """Refuse, before writing anything, shards larger than the free space where ``out`` goes."""
    need = estimate_shard_bytes(corpus)
    where, free = free_bytes(out)
    if need > margin * free:
        raise BehemothError(
            f"repeats: the corpus shards would take about {_gb(need)} but {where} has "
            f"{_gb(free)} free; lower repeats or subjects, pass --no-shards (training can stream "
            "the corpus), or --force-size to write them anyway"
        )


#: Peak memory per fact (subject x relation) of sampling a graph and building its probes, in
#: bytes: measured on the ``tiny`` preset (its four probe sets), peak RSS 219 MB at 20,000
#: subjects and 318 MB at 80,000 (4 relations): 98 MB / 240,000 facts = 418 bytes, rounded up.
BYTES_PER_FACT = 450
#: The interpreter and the libraries, before any fact.
BASE_BYTES = 250_000_000


def estimate_memory_bytes(cfg: WorldConfig) -> int:
    """Peak memory of :func:`generate_world` without shards: the graph's edges and the probes'
    rows, one of each per fact (subject x relation), plus the libraries."""
    return BASE_BYTES + cfg.subjects * cfg.relations * BYTES_PER_FACT


def _available_memory() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes (None where there is no such file)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(cfg: WorldConfig, margin: float = 0.9) -> None:
    """Refuse, before sampling anything, a world whose graph and probes would not fit the
    memory available now (``MemAvailable``): it would grow until a MemoryError."""
    need, free = estimate_memory_bytes(cfg), _available_memory()
    if free is not None and need > margin * free:
        raise BehemothError(
            f"subjects: {cfg.subjects:,} subjects x {cfg.relations} relations would need about "
            f"{_gb(need)} of memory for the graph and probes but {_gb(free)} is available; "
            "lower subjects or relations, or pass --force-size to try anyway"
        )


def _exposure_lines(c: dict[str, Any], n: dict[str, Any]) -> list[str]:
    """The summary's exposure line (none for uniform counts)."""
    e, r = c.get("exposure"), n.get("fact_repeats")
    if not isinstance(e, dict) or not isinstance(r, dict):
        return []
    how = e.get("kind", "uniform")
    if how == "zipf":
        how += f" over {e.get('over')}, a={e.get('a')}"
    elif how == "head_tail":
        how += f" over {e.get('over')}, head {e.get('head_share')}"
    if e.get("fixed"):
        how += f", {len(e['fixed'])} fixed"
    return [f"  exposure   {how}: {r['min']}-{r['max']} copies per fact (mean {r['mean']:.4g})"]


def _gb(n: int) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e8 else f"{n / 1e6:,.1f} MB"


def _same_world(out: str | Path, cfg: WorldConfig, shards: bool) -> World | None:
    """The world already at ``out`` if it was generated from this very config (and has shards
    if they are asked for): regenerating it would give the same bytes."""
    meta_path = Path(out) / "world.json"
    if not meta_path.is_file():
        return None
    try:
        world = World.load(out)
    except Exception:
        return None
    if world.meta.get("imported_from") or world.config != cfg:
        return None
    if shards and not (Path(out) / "shards" / "index.json").is_file():
        return None
    return world


def format_summary(meta: dict[str, Any]) -> str:
    c, n, v = meta["config"], meta["counts"], meta["vocab"]
    lines = [
        f"world {meta['fingerprint']}  seed {c['seed']}",
        f"  facts      {c['subjects']:,} subjects x {c['relations']} relations x {c['objects']} objects"
        f" = {n['facts']:,} facts",
    ]
    if c["nested_objects"]:
        lines.append(
            f"  nested     {c['nested_objects']} nested objects per relation (S-NO and O-NO edges)"
        )
    if c["correlated_pair"]:
        lines.append(
            f"  correlated relations 0/1, strength {c['correlation_strength']}"
            + (", relation 0 binarized" if c["binarize_first"] else "")
        )
    if n["minority_edges"]:
        lines.append(
            f"  minority   {n['minority_edges']:,} edges dissent, stated with p={c['minority_frac']}"
        )
    if c["questions_frac"] > 0:
        lines.append(
            f"  questions  {n['question_subjects']:,} subjects, {c['questions_frac']:.0%} of statements"
        )
    lines += [
        f"  grammar    {c['template']}, inversion_frac {c['inversion_frac']}, "
        f"{'shuffled sentences' if c['shuffle'] else 'biographies'}",
        f"  vocabulary {v['size']:,} tokens ({v['dtype']}), {v['subject_tokens']} token(s) per subject",
        *_exposure_lines(c, n),
        f"  corpus     {c['repeats']} repeats: {n['sentences_per_pass']:,} sentences"
        + (
            f", {n['tokens_written']:,} tokens written"
            if n["tokens_written"]
            else " (stream only, no shards)"
        ),
        "  probes     " + ", ".join(f"{k} {val:,}" for k, val in meta["probes"].items()),
    ]
    return "\n".join(lines)
