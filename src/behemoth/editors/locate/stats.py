"""Second-moment statistics C = E[k k^T] of a layer's inputs, over the world's training corpus.

ROME (Meng et al. 2022, Sec. 3.1, Eq. 2) and MEMIT (Meng et al. 2023, Eq. 14) weight their
least-squares updates by C: directions the layer sees often are changed least. The original
code estimates C from 100k Wikipedia samples; here the training corpus *is* the model's ordinary
text, so C is exact up to sampling. Statistics are computed for several layers in one pass and
cached on disk per (model fingerprint, world, module, sample size), with a progress bar, in the
directory the caller names (``EditContext.cache``/stats; none: nothing is kept on disk). A cache
entry that cannot be read back as the d x d float64 matrix it should hold (truncated, bit-rotted,
written by something else) is logged with its path and rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import OrderedDict
from pathlib import Path

import torch
from tqdm import tqdm

from behemoth.model.hooks import hooked
from behemoth.progress import bars_enabled
from behemoth.world.world import World

log = logging.getLogger(__name__)


@torch.no_grad()
def model_fingerprint(model: torch.nn.Module) -> str:
    """SHA-256 (16 hex digits) of every parameter's name, dtype, shape and bytes."""
    h = hashlib.sha256()
    for name, p in model.named_parameters():
        t = p.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


#: Without a cache directory, statistics computed in this process are kept in memory, keyed by
#: the model's and the world's fingerprints (content hashes) and the sample: a pure function's
#: memo (the same key gives the same matrix computed again), bounded to the last entries.
_MEMO: OrderedDict[tuple[str, str, str, int, int], torch.Tensor] = OrderedDict()
MEMO_ENTRIES = 64


def _remember(key: tuple[str, str, str, int, int], c: torch.Tensor) -> None:
    _MEMO[key] = c.clone()
    _MEMO.move_to_end(key)
    while len(_MEMO) > MEMO_ENTRIES:
        _MEMO.popitem(last=False)


def _cache_file(
    cache_dir: Path, model_fp: str, world_fp: str, module: str, n_tokens: int, seq_len: int
) -> Path:
    return cache_dir / f"{model_fp}-{world_fp}-{module}-n{n_tokens}-t{seq_len}.pt"


def _key_width(model: torch.nn.Module, module: str) -> int | None:
    """The input width of ``module`` when it is a linear layer (None: not known here)."""
    mod = dict(model.named_modules()).get(module)
    w = getattr(mod, "weight", None)
    if not isinstance(w, torch.Tensor) or w.dim() != 2:
        return None
    # nn.Linear stores [out, in]; GPT-2's Conv1D stores [in, out]
    return int(w.shape[0] if type(mod).__name__ == "Conv1D" else w.shape[1])


def _read_entry(path: Path, width: int | None) -> torch.Tensor | None:
    """The cached statistic in ``path``, or None (logged with the path: it is rebuilt) when the
    file is not a finite [width, width] float64 matrix."""
    try:
        c = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated or corrupt file: any unpickling error
        log.warning("second-moment cache %s is unreadable (%s); rebuilding it", path, e)
        return None
    ok = (
        isinstance(c, torch.Tensor)
        and c.dtype == torch.float64
        and c.dim() == 2
        and c.shape[0] == c.shape[1]
        and (width is None or c.shape[0] == width)
        and bool(torch.isfinite(c).all())
    )
    if not ok:
        log.warning("second-moment cache %s does not hold the expected matrix; rebuilding it", path)
        return None
    return c


def _forward(model: torch.nn.Module, ids: torch.Tensor) -> None:
    """A forward pass for its activations only: skip the output head where the model allows."""
    try:
        model(input_ids=ids, logits_to_keep=1)
    except TypeError:
        model(input_ids=ids)


@torch.no_grad()
def second_moments(
    model: torch.nn.Module,
    world: World,
    modules: list[str],
    *,
    n_tokens: int = 100_000,
    seq_len: int = 64,
    batch_size: int = 32,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> dict[str, torch.Tensor]:
    """C = (1/N) sum_t k_t k_t^T (float64, CPU) of the inputs of each of ``modules``.

    Keys are the first positional inputs of the modules at every position of ``n_tokens``
    tokens of the world's corpus stream (``world.sampler``), read by forward pre-hooks.
    ``cache_dir``: where they are kept per (model, world, module, sample); None: not on disk.
    """
    cache = Path(cache_dir) if cache_dir is not None else None
    model_fp, world_fp = model_fingerprint(model), world.fingerprint
    out: dict[str, torch.Tensor] = {}
    todo = []
    for m in modules:
        if cache is None:
            hit = _MEMO.get((model_fp, world_fp, m, n_tokens, seq_len))
            if hit is not None:
                out[m] = hit.clone()
            else:
                todo.append(m)
            continue
        f = _cache_file(cache, model_fp, world_fp, m, n_tokens, seq_len)
        c = _read_entry(f, _key_width(model, m)) if f.is_file() else None
        if c is not None:
            out[m] = c
        else:
            todo.append(m)
    if not todo:
        return out
    dev = next(model.parameters()).device
    sampler = world.sampler(seq_len, batch_size)
    sums: dict[str, torch.Tensor] = {}
    count = 0
    was_training = model.training
    model.eval()
    bar = tqdm(
        total=n_tokens,
        unit="tok",
        unit_scale=True,
        desc="second moments",
        disable=not (progress and bars_enabled()),
        leave=False,
    )
    try:
        while count < n_tokens:
            ids = torch.from_numpy(sampler.next_batch()).to(dev)  # [B, T]
            take = min(ids.numel(), n_tokens - count)
            with hooked(model, inputs=todo) as rec:
                _forward(model, ids)
            for m in todo:
                k = rec.inputs[m].reshape(-1, rec.inputs[m].shape[-1])[:take].double()  # [N, d_in]
                sums[m] = sums[m] + k.T @ k if m in sums else k.T @ k
            count += take
            bar.update(take)
    finally:
        bar.close()
        model.train(was_training)
    for m in todo:
        c = (sums[m] / count).cpu()
        out[m] = c
        if cache is None:
            _remember((model_fp, world_fp, m, n_tokens, seq_len), c)
            continue
        cache.mkdir(parents=True, exist_ok=True)
        f = _cache_file(cache, model_fp, world_fp, m, n_tokens, seq_len)
        tmp = f.with_name(f".{f.name}.{os.getpid()}.tmp")
        torch.save(c, tmp)
        tmp.replace(f)
        log.debug("cached second moment of %s in %s", m, f)
    return out
