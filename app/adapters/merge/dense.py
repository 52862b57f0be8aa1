"""Entry-wise merging (TIES, DARE) one tensor at a time, one block of rows at a time.

Each parent's dense delta exists only as a block of rows (a quarter million entries); the
merged delta is the only full dense matrix, and it lives in a buffer the worker reuses from
tensor to tensor (first-touching a fresh 100 MB array cost more than merging into it: page
faults). It is then cut back to a rank (`svd.sketched_cut`), sketched while each block is in
cache so that the cut needs one more pass over the matrix, not three.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from app.adapters.lora_file import FloatArray
from app.adapters.merge.base import Factors, MergeOptions, TensorContext, TensorMerge
from app.adapters.merge.svd import dense_cut, sketch_test_matrix, sketch_width
from app.adapters.merge.workspace import Workspace

BLOCK_ENTRIES = 1 << 18  # a block of rows small enough to stay in cache
EXACT_THRESHOLD_ENTRIES = 1 << 20  # above this a trim threshold is estimated from samples
THRESHOLD_SAMPLES = 1 << 16
BRACKET_SAMPLES = 1 << 12  # an exact threshold's bracket: quantile +-2% of this sample
BRACKET = 0.02

# blocks (one per present parent, modified in place), their weights, the output block to fill
# and the worker's buffers -> the (touched, conflicting) entry counts of the sign-conflict share
BlockFn = Callable[[list[FloatArray], list[float], FloatArray, Workspace], tuple[int, int]]


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
    factors = [p for p, _ in present]
    out_dim, in_dim = ctx.shape
    target = rank if rank is not None else max(p[0].shape[0] for p in factors)
    rng = ctx.rng(2)
    ws = ctx.workspace if ctx.workspace is not None else Workspace()
    width = sketch_width(ctx.shape, target, options.oversample, factors)
    # The sketch (delta @ omega) and the energy are gathered while each block is in cache.
    omega = sketch_test_matrix(factors, rng, in_dim, width) if width is not None else None
    sketch = np.empty((out_dim, width), np.float32) if width is not None else None
    merged = ws.array("merged", (out_dim, in_dim))
    rows = max(1, BLOCK_ENTRIES // in_dim)
    touched = conflicts = 0
    total = 0.0
    for start in range(0, out_dim, rows):
        part = slice(start, min(out_dim, start + rows))
        shape = (part.stop - part.start, in_dim)
        blocks = [
            np.matmul(b[part], a, out=ws.array(f"block{k}", shape))
            for k, (a, b) in enumerate(factors)
        ]
        block = merged[part]
        t, c = block_fn(blocks, [w for _, w in present], block, ws)
        flat = block.ravel()
        total += float(np.dot(flat, flat))
        if sketch is not None and omega is not None:
            np.matmul(block, omega, out=sketch[part])
        touched += t
        conflicts += c
    iters = options.power_iterations(ctx.shape)
    a, b, kept = dense_cut(
        merged, target, rng, iters, options.oversample, total=total, sketch=sketch
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
        return kth_largest(values, keep, rng)
    rows = rng.integers(0, out_dim, THRESHOLD_SAMPLES)
    cols = rng.integers(0, in_dim, THRESHOLD_SAMPLES)
    values = np.abs(np.einsum("nr,rn->n", b[rows], a[:, cols]))
    return float(np.quantile(values, 1.0 - density))


def kth_largest(values: FloatArray, k: int, rng: np.random.Generator) -> float:
    """The `k`-th largest of `values`, exactly. Partitioning a million entries took most of a
    small model's merge; a sample brackets the answer and only the entries inside the bracket
    (a few percent) are partitioned. The answer does not depend on the sample."""
    n = values.size
    if n > BRACKET_SAMPLES * 8:
        sample = values[rng.integers(0, n, BRACKET_SAMPLES)]
        q = 1.0 - k / n
        lo, hi = np.quantile(sample, [max(0.0, q - BRACKET), min(1.0, q + BRACKET)])
        above = int(np.count_nonzero(values > hi))
        band = values[(values >= lo) & (values <= hi)]
        need = k - above  # the k-th largest is the need-th largest inside the band
        if 0 < need <= band.size:
            return float(np.partition(band, band.size - need)[band.size - need])
    return float(np.partition(values, n - k)[n - k])


def elect_and_mean(
    blocks: list[FloatArray], weights: list[float], out: FloatArray, ws: Workspace
) -> tuple[int, int]:
    """TIES' sign election and disjoint mean over (already trimmed or dropped) blocks, into
    `out`; returns the (touched, conflicting) entry counts.

    The elected sign of an entry is the sign of the weighted sum; the result is the weighted
    mean of the parents that agree with it (entries no parent agrees on stay zero). Blocks may
    be overwritten. Two parents of equal weight (every consolidation) take a shorter path.
    """
    if len(blocks) == 2 and weights[0] == weights[1]:
        return _elect_two(blocks[0], blocks[1], out, ws)
    return _elect_many(blocks, weights, out, ws)


def _elect_two(t1: FloatArray, t2: FloatArray, out: FloatArray, ws: Workspace) -> tuple[int, int]:
    """Two parents of equal weight in 11 passes over the block instead of 24.

    Where both are non-zero with one sign the mean is (t1 + t2) / 2. Elsewhere (one is zero,
    or the signs differ) the result is the entry of larger magnitude, or 0 on an exact tie of
    opposite signs: that is (s + sign(s) * |t1 - t2|) / 2 with s = t1 + t2.
    """
    scratch = ws.array("scratch", t1.shape)
    other = ws.array("other", t1.shape, np.bool_)
    np.multiply(t1, t2, out=scratch)
    touched = int(np.count_nonzero(scratch))
    np.less_equal(scratch, 0, out=other)  # not both non-zero with one sign
    conflicts = int(np.count_nonzero(other)) - (scratch.size - touched)  # product < 0
    np.subtract(t1, t2, out=scratch)
    np.abs(scratch, out=scratch)
    np.multiply(scratch, other, out=scratch)
    np.add(t1, t2, out=t1)
    np.sign(t1, out=t2)
    np.multiply(scratch, t2, out=scratch)
    np.add(t1, scratch, out=t1)
    np.multiply(t1, np.float32(0.5), out=out)
    return touched, conflicts


def _elect_many(
    blocks: list[FloatArray], weights: list[float], out: FloatArray, ws: Workspace
) -> tuple[int, int]:
    # Masks are multiplied in, not used as `where=`, which is several times faster in numpy.
    touched, conflicts = count_conflicts(blocks)
    for block, w in zip(blocks, weights, strict=True):
        if w != 1.0:
            block *= np.float32(w)
    total = ws.array("total", out.shape)
    np.copyto(total, blocks[0])
    for block in blocks[1:]:
        total += block
    num, den = out, ws.array("den", out.shape)
    num.fill(0.0)
    den.fill(0.0)
    scratch = ws.array("scratch", out.shape)
    agree = ws.array("agree", out.shape, np.bool_)
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
    return touched, conflicts


def trim_block(block: FloatArray, threshold: float, ws: Workspace) -> None:
    """Zero, in place, the entries whose magnitude is below `threshold`."""
    if threshold <= 0.0:
        return
    magnitude = ws.array("magnitude", block.shape)
    keep = ws.array("keep", block.shape, np.bool_)
    np.abs(block, out=magnitude)
    np.greater_equal(magnitude, np.float32(threshold), out=keep)
    np.multiply(block, keep, out=block)


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
