"""Entry-wise merging (TIES, DARE) one tensor at a time, one block of rows at a time.

Each parent's dense delta exists only as a block of rows (a quarter million entries); the
merged delta is the only full dense matrix, so peak memory is one tensor's dense delta. It is
then cut back to a rank with a randomized SVD.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from app.adapters.lora_file import FloatArray
from app.adapters.merge.base import Factors, MergeOptions, TensorContext, TensorMerge
from app.adapters.merge.svd import dense_cut, draw_omega, sketch_width

BLOCK_ENTRIES = 1 << 18  # a block of rows small enough to stay in cache
EXACT_THRESHOLD_ENTRIES = 1 << 20  # above this a trim threshold is estimated from samples
THRESHOLD_SAMPLES = 1 << 16

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
    target = rank if rank is not None else max(p[0].shape[0] for p, _ in present)
    rng = ctx.rng(2)
    width = sketch_width(ctx.shape, target, options.oversample)
    # The sketch (delta @ omega) and the energy are gathered while each block is in cache.
    omega = draw_omega(rng, in_dim, width) if width is not None else None
    sketch = np.empty((out_dim, width), np.float32) if width is not None else None
    merged = np.empty((out_dim, in_dim), np.float32)
    rows = max(1, BLOCK_ENTRIES // in_dim)
    touched = conflicts = 0
    total = 0.0
    for start in range(0, out_dim, rows):
        part = slice(start, min(out_dim, start + rows))
        blocks = [b[part] @ a for (a, b), _ in present]
        block, t, c = block_fn(blocks, [w for _, w in present], part)
        merged[part] = block
        flat = block.ravel()
        total += float(np.dot(flat, flat))
        if sketch is not None and omega is not None:
            np.matmul(block, omega, out=sketch[part])
        touched += t
        conflicts += c
    a, b, kept = dense_cut(
        merged, target, rng, options.power_iters, options.oversample, total=total, sketch=sketch
    )
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
    mean of the parents that agree with it (entries no parent agrees on stay zero). Blocks are
    scaled by their weights in place. Masks are multiplied in, not used as `where=`, which is
    several times faster in numpy.
    """
    touched, conflicts = count_conflicts(blocks)
    for block, w in zip(blocks, weights, strict=True):
        if w != 1.0:
            block *= np.float32(w)
    total = blocks[0].copy()
    for block in blocks[1:]:
        total += block
    num = np.zeros_like(total)
    den = np.zeros_like(total)
    scratch = np.empty_like(total)
    agree = np.empty(total.shape, dtype=bool)
    for block, w in zip(blocks, weights, strict=True):
        np.multiply(block, total, out=scratch)
        np.greater(scratch, 0, out=agree)
        np.multiply(block, agree, out=scratch)
        num += scratch
        if w == 1.0:
            den += agree
        else:
            np.multiply(agree, np.float32(w), out=scratch)
            den += scratch
    # where no parent agrees, num is 0: dividing by a tiny floor keeps it 0 without a mask
    np.maximum(den, np.float32(1e-30), out=den)
    np.divide(num, den, out=num)
    return num, touched, conflicts


def trim_block(block: FloatArray, threshold: float) -> None:
    """Zero, in place, the entries whose magnitude is below `threshold`."""
    block *= np.abs(block) >= np.float32(threshold)


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
