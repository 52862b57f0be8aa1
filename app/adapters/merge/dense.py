"""Entry-wise merging (TIES, DARE) one tensor at a time, one block of rows at a time.

Each parent's dense delta exists only as a block of rows (about a million entries); the merged
delta is the only full dense matrix, so peak memory is one tensor's dense delta. It is then cut
back to a rank with a randomized SVD.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from app.adapters.lora_file import FloatArray
from app.adapters.merge.base import Factors, MergeOptions, TensorContext, TensorMerge
from app.adapters.merge.svd import dense_cut

BLOCK_ENTRIES = 1 << 20
EXACT_THRESHOLD_ENTRIES = 1 << 20  # above this a trim threshold is estimated from samples
THRESHOLD_SAMPLES = 1 << 18

# blocks (one per present parent, modified in place), their weights -> merged block, and the
# (touched, conflicting) entry counts for the sign-conflict share
BlockFn = Callable[[list[FloatArray], list[float], slice], tuple[FloatArray, int, int]]


def merge_dense(
    parents: Sequence[Factors | None],
    options: MergeOptions,
    rank: int | None,
    ctx: TensorContext,
    block_fn: BlockFn,
) -> TensorMerge:
    """Build the merged dense delta block by block with `block_fn`, then cut it to `rank`."""
    weights = options.weight_list(len(parents))
    present = [(p, w) for p, w in zip(parents, weights, strict=True) if p is not None]
    out_dim, in_dim = ctx.shape
    merged = np.empty((out_dim, in_dim), np.float32)
    rows = max(1, BLOCK_ENTRIES // in_dim)
    touched = conflicts = 0
    for start in range(0, out_dim, rows):
        part = slice(start, min(out_dim, start + rows))
        blocks = [b[part] @ a for (a, b), _ in present]
        block, t, c = block_fn(blocks, [w for _, w in present], part)
        merged[part] = block
        touched += t
        conflicts += c
    target = rank if rank is not None else max(p[0].shape[0] for p, _ in present)
    a, b, kept = dense_cut(merged, target, ctx.rng(2), options.power_iters, options.oversample)
    return TensorMerge(a, b, kept, conflicts / touched if touched else 0.0)


def trim_threshold(factors: Factors, density: float, rng: np.random.Generator) -> float:
    """The magnitude at or above which the top `density` share of a delta's entries lie.

    Exact for small tensors; for large ones estimated from sampled entries (computed from the
    factors), which keeps the share within about a tenth of a percent.
    """
    a, b = factors
    out_dim, in_dim = b.shape[0], a.shape[1]
    n = out_dim * in_dim
    if density >= 1.0:
        return 0.0
    if n <= EXACT_THRESHOLD_ENTRIES:
        values = np.abs((b @ a).ravel())
        keep = max(1, math.ceil(density * n - 1e-9))
        return float(np.partition(values, n - keep)[n - keep])
    rows = rng.integers(0, out_dim, THRESHOLD_SAMPLES)
    cols = rng.integers(0, in_dim, THRESHOLD_SAMPLES)
    values = np.abs(np.einsum("nr,rn->n", b[rows], a[:, cols]))
    return float(np.quantile(values, 1.0 - density))


def elect_and_mean(blocks: list[FloatArray], weights: list[float]) -> tuple[FloatArray, int, int]:
    """TIES' sign election and disjoint mean over (already trimmed or dropped) blocks.

    The elected sign of an entry is the sign of the weighted sum; the result is the weighted
    mean of the parents that agree with it (entries no parent agrees on stay zero).
    """
    total = np.zeros_like(blocks[0])
    for block, w in zip(blocks, weights, strict=True):
        total += np.float32(w) * block
    sign = np.sign(total, out=total)
    num = np.zeros_like(blocks[0])
    den = np.zeros_like(blocks[0])
    agree = np.empty(blocks[0].shape, dtype=bool)
    for block, w in zip(blocks, weights, strict=True):
        np.greater(block * sign, 0, out=agree)
        num += np.where(agree, np.float32(w) * block, np.float32(0))
        den += np.float32(w) * agree
    merged = np.divide(num, den, out=np.zeros_like(num), where=den != 0)
    touched, conflicts = count_conflicts(blocks)
    return merged, touched, conflicts


def count_conflicts(blocks: list[FloatArray]) -> tuple[int, int]:
    """(entries two or more parents touch, of which those whose signs disagree)."""
    if len(blocks) < 2:
        return 0, 0
    if len(blocks) == 2:
        product = blocks[0] * blocks[1]
        return int(np.count_nonzero(product)), int(np.count_nonzero(product < 0))
    pos = np.zeros(blocks[0].shape, np.int16)
    neg = np.zeros(blocks[0].shape, np.int16)
    for block in blocks:
        pos += block > 0
        neg += block < 0
    return int(np.count_nonzero(pos + neg >= 2)), int(np.count_nonzero((pos > 0) & (neg > 0)))
