"""GRACE's codebook: keys, learned values, a deferral radius and a label per entry.

Hartvigsen et al. 2023, "Aging with GRACE: Lifelong Model Editing with Discrete Key-Value
Adaptors" (NeurIPS), Sec. 3 and Alg. 1. A query (the wrapped layer's input at the last token)
is answered from the codebook when it lies within the radius of its nearest key
(``||q - k_j|| <= eps_j``); otherwise the layer runs unchanged. A new edit with key ``k`` and
label ``y`` (its target token), nearest entry ``j`` at distance ``d``:

- no entry in range (``d > eps_init + eps_j``, the two balls would not overlap): **add**;
- in range with another label: **split**, add the new entry and set both radii to ``d / 2``
  (the balls then meet but do not overlap; the authors' code, ``split_epsilons_in_half``);
- in range with the same label: **expand**, ``eps_j <- max(eps_j, d)`` (coverage); no new entry;
  entry ``j``'s value is trained on the new prompt too.

A key equal to an existing one (``d == 0``) with another label is the same input edited again:
its label is **replaced** (the paper's split would leave two entries at distance 0 with radius 0,
and the older one would win every lookup).

All per-entry arrays grow in one place (:meth:`Codebook._append`), so keys, values, radii and
labels stay aligned; a public port that prepended one list and appended another did not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

Action = Literal["add", "split", "expand", "inside", "replace"]


@dataclass(frozen=True)
class Decision:
    """What an edit did to the codebook: the action and the entry whose value is then trained."""

    action: Action
    index: int  # entry trained for this edit
    nearest: int  # nearest entry before the edit (-1 for an empty codebook)
    distance: float  # distance to it (inf for an empty codebook)


class Codebook:
    """Aligned per-entry tensors: ``keys`` [n, dk], ``values`` [n, dv], ``radii`` [n], ``labels`` [n]."""

    def __init__(
        self,
        key_dim: int,
        value_dim: int,
        keys: torch.Tensor | None = None,
        values: torch.Tensor | None = None,
        radii: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> None:
        self.key_dim, self.value_dim = int(key_dim), int(value_dim)
        self.keys = keys if keys is not None else torch.zeros(0, key_dim)
        self.values = values if values is not None else torch.zeros(0, value_dim)
        self.radii = radii if radii is not None else torch.zeros(0)
        self.labels = labels if labels is not None else torch.zeros(0, dtype=torch.long)
        n = len(self.keys)
        if not (len(self.values) == len(self.radii) == len(self.labels) == n):
            raise ValueError("codebook: keys, values, radii and labels differ in length")
        if self.keys.shape[1:] != (key_dim,) or self.values.shape[1:] != (value_dim,):
            raise ValueError("codebook: key or value width does not match the layer")

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    def copy(self) -> Codebook:
        return Codebook(
            self.key_dim,
            self.value_dim,
            self.keys.clone(),
            self.values.clone(),
            self.radii.clone(),
            self.labels.clone(),
        )

    @property
    def nbytes(self) -> int:
        """Bytes held by the codebook's tensors (the memory the editor adds to the model)."""
        return sum(t.numel() * t.element_size() for t in self.tensors().values())

    # -- queries ---------------------------------------------------------------------------------
    def nearest(self, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(distance [B], index [B]) of each query's nearest key; the codebook must not be empty."""
        d = torch.cdist(queries.float(), self.keys.to(queries.device).float())  # [B, n]
        return d.min(dim=1)

    def lookup(self, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(hit [B] bool, index [B]): a query is answered by its nearest entry when within its
        radius (Hartvigsen et al. 2023, Eq. 2)."""
        if len(self) == 0:
            z = torch.zeros(len(queries), dtype=torch.long, device=queries.device)
            return z.bool(), z
        dist, idx = self.nearest(queries)
        return dist <= self.radii.to(queries.device)[idx], idx

    # -- edits -----------------------------------------------------------------------------------
    def update(
        self, key: torch.Tensor, label: int, value: torch.Tensor, init_radius: float
    ) -> Decision:
        """Apply GRACE's codebook rule for one edit (see the module docstring); ``value`` is the
        initial value of a new entry. Returns what was done."""
        key = key.detach().reshape(1, -1).float().cpu()
        value = value.detach().reshape(1, -1).float().cpu()
        if len(self) == 0:
            return Decision("add", self._append(key, value, label, init_radius), -1, float("inf"))
        dist, idx = self.nearest(key)
        d, j = float(dist[0]), int(idx[0])
        if d > init_radius + float(self.radii[j]):
            return Decision("add", self._append(key, value, label, init_radius), j, d)
        if int(self.labels[j]) != label:
            if d == 0.0:  # the same input edited again: the newer label wins
                self.labels[j] = label
                self.values[j] = value[0]
                return Decision("replace", j, j, d)
            new = self._append(key, value, label, d / 2)
            self.radii[j] = d / 2
            return Decision("split", new, j, d)
        if d > float(self.radii[j]):
            self.radii[j] = d
            return Decision("expand", j, j, d)
        return Decision("inside", j, j, d)

    def _append(self, key: torch.Tensor, value: torch.Tensor, label: int, radius: float) -> int:
        """Add one entry at the end of every per-entry tensor; returns its index."""
        self.keys = torch.cat([self.keys, key])
        self.values = torch.cat([self.values, value])
        self.radii = torch.cat([self.radii, torch.tensor([float(radius)])])
        self.labels = torch.cat([self.labels, torch.tensor([int(label)])])
        return len(self) - 1

    # -- persistence -----------------------------------------------------------------------------
    def tensors(self) -> dict[str, torch.Tensor]:
        return {
            "keys": self.keys,
            "values": self.values,
            "radii": self.radii,
            "labels": self.labels,
        }

    @classmethod
    def from_tensors(cls, t: dict[str, torch.Tensor]) -> Codebook:
        missing = {"keys", "values", "radii", "labels"} - set(t)
        if missing:
            raise ValueError(f"codebook file lacks {sorted(missing)}")
        return cls(
            int(t["keys"].shape[1]),
            int(t["values"].shape[1]),
            t["keys"].float(),
            t["values"].float(),
            t["radii"].float(),
            t["labels"].long(),
        )
