"""Trained SERAC networks on disk: ``serac.safetensors`` (weights, fixed tables and the training
facts) and ``serac.json`` (settings, world, the split they were trained on, validation figures).

No pickle anywhere: weights are safetensors, everything else JSON. The training facts are kept
so that a run can check, before any edit, that none of them is a test fact of its scenario.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from behemoth.editors.serac.config import SeracNetsConfig
from behemoth.editors.serac.nets import Counterfactual, ScopeClassifier
from behemoth.errors import BehemothError
from behemoth.io import read_json, write_json

FORMAT = "behemoth-serac-nets"
# 2: the cross-encoder reads its pair out with a comparison head (``cross_head: pair``). Files
# of version 1 (no ``version`` key) had the one-mean head; they load as ``cross_head: mean``.
VERSION = 2
META = "serac.json"
WEIGHTS = "serac.safetensors"


@dataclass
class SeracNets:
    """The scope classifier and the counterfactual model, and what they were trained on."""

    config: SeracNetsConfig
    vocab: int  # world vocabulary size; table row ``vocab`` is the separator
    world: str  # fingerprint of the world they were trained on
    classifier: ScopeClassifier
    counterfactual: Counterfactual
    train_facts: np.ndarray  # [n, 2] (subject, relation) of every fact used in training
    split: dict[str, Any] = field(default_factory=dict)  # how those facts were chosen
    metrics: dict[str, Any] = field(default_factory=dict)  # validation figures

    @classmethod
    def build(
        cls, config: SeracNetsConfig, vocab: int, world: str, train_facts: np.ndarray
    ) -> SeracNets:
        rows = vocab + 1 + config.scratch_rows
        c = config
        with torch.random.fork_rng(devices=[]):  # seeded init, global RNG left as it was
            torch.manual_seed(c.seed)
            classifier = ScopeClassifier(
                c.variant,
                rows,
                c.width,
                c.layers,
                c.heads,
                c.max_len,
                c.seed,
                c.embed_dim,
                sep=vocab,
                cross_head=c.cross_head,
            )
            cf = Counterfactual(rows, vocab, c.width, c.layers, c.heads, c.max_len, c.seed + 1)
        return cls(c, vocab, world, classifier, cf, np.asarray(train_facts, dtype=np.int64))

    @property
    def sep(self) -> int:
        return self.vocab

    def eval(self) -> SeracNets:
        self.classifier.eval()
        self.counterfactual.eval()
        return self

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {f"classifier.{k}": v for k, v in self.classifier.state_dict().items()}
        out.update({f"counterfactual.{k}": v for k, v in self.counterfactual.state_dict().items()})
        out["train_facts"] = torch.from_numpy(self.train_facts)
        return {k: v.detach().contiguous() for k, v in out.items()}

    def meta(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "config": self.config.to_dict(),
            "vocab": self.vocab,
            "world": self.world,
            "split": self.split,
            "metrics": self.metrics,
            "train_facts": int(len(self.train_facts)),
        }

    def to_memory(self) -> dict[str, torch.Tensor]:
        """The networks as named tensors (``nets.*``; settings as JSON bytes in ``nets.meta``),
        to travel inside a wrapper's safetensors memory."""
        out = {f"nets.{k}": v for k, v in self.tensors().items()}
        out["nets.meta"] = torch.tensor(
            list(json.dumps(self.meta(), sort_keys=True).encode()), dtype=torch.uint8
        )
        return out

    @classmethod
    def from_memory(cls, memory: dict[str, torch.Tensor]) -> SeracNets:
        if "nets.meta" not in memory:
            raise BehemothError("SERAC: the memory holds no networks (nets.meta)")
        meta = json.loads(bytes(memory["nets.meta"].tolist()).decode())
        t = {k[len("nets.") :]: v for k, v in memory.items() if k.startswith("nets.")}
        return cls._from(meta, t, "the wrapper's memory")

    def save(self, directory: str | Path) -> None:
        """Write both files into ``directory`` (an atomic_dir the caller manages)."""
        d = Path(directory)
        save_file(self.tensors(), str(d / WEIGHTS))
        digest = hashlib.sha256((d / WEIGHTS).read_bytes()).hexdigest()
        write_json(d / META, {**self.meta(), "weights_sha256": digest})

    @classmethod
    def load(cls, directory: str | Path) -> SeracNets:
        d = Path(directory)
        if not (d / META).is_file():
            raise BehemothError(
                f"SERAC: {d} holds no trained networks ({META}); run `behemoth train-serac` first"
            )
        meta = read_json(d / META)
        if meta.get("format") != FORMAT:
            raise BehemothError(f"SERAC: {d / META} is not a SERAC networks file")
        want = meta.get("weights_sha256")  # recorded by every save
        if not isinstance(want, str):
            raise BehemothError(
                f"SERAC: {d / META} records no weights_sha256; train the networks again with "
                "`behemoth train-serac`"
            )
        try:
            got = hashlib.sha256((d / WEIGHTS).read_bytes()).hexdigest()
        except OSError as e:
            raise BehemothError(f"SERAC: {d / WEIGHTS} is unreadable ({e}); train again") from None
        if got != want:
            raise BehemothError(
                f"SERAC: {d / WEIGHTS} does not match the SHA-256 recorded in {META} (damaged or "
                "replaced); train the networks again with `behemoth train-serac`"
            )
        try:
            t = load_file(str(d / WEIGHTS))
        except (SafetensorError, OSError) as e:
            raise BehemothError(f"SERAC: {d / WEIGHTS} is unreadable ({e}); train again") from None
        return cls._from(meta, t, str(d / WEIGHTS))

    @classmethod
    def _from(cls, meta: dict[str, Any], t: dict[str, torch.Tensor], where: str) -> SeracNets:
        if "train_facts" not in t:
            raise BehemothError(f"SERAC: the networks in {where} lack their training facts")
        cfg = SeracNetsConfig.from_dict(upgrade(meta, where)["config"])
        nets = cls.build(cfg, int(meta["vocab"]), str(meta["world"]), t["train_facts"].numpy())
        for prefix, mod in (
            ("classifier.", nets.classifier),
            ("counterfactual.", nets.counterfactual),
        ):
            state = {k[len(prefix) :]: v for k, v in t.items() if k.startswith(prefix)}
            try:
                mod.load_state_dict(state, strict=True)
            except RuntimeError as e:
                raise BehemothError(
                    f"SERAC: the networks in {where} do not match their settings ({e})"
                ) from None
        nets.split, nets.metrics = dict(meta.get("split", {})), dict(meta.get("metrics", {}))
        return nets.eval()


def upgrade(meta: dict[str, Any], where: str) -> dict[str, Any]:
    """Settings of a saved file in the current format: version 1 (no ``version``) predates
    ``cross_head`` and its cross-encoders were read out by one mean over the pair, so they load
    as ``cross_head: mean`` (their measured precision is 0.64: retrain them for the pair head)."""
    version = int(meta.get("version", 1))
    if version > VERSION:
        raise BehemothError(
            f"SERAC: the networks in {where} are of format version {version}, newer than this "
            f"behemoth reads ({VERSION}); upgrade behemoth or retrain with `behemoth train-serac`"
        )
    if version == 1:
        meta = {**meta, "config": {**meta["config"], "cross_head": "mean"}}
    return meta
