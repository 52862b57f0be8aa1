"""`linear` (task arithmetic): the weighted sum of the parents' deltas, on the factors.

Scaling each parent's B by its weight and concatenating is exact; an optional rank cut then
works on the factors (QR + SVD of the small core), never on a dense matrix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app.adapters.merge.base import (
    Factors,
    MergeMethod,
    MergeOptions,
    TensorContext,
    TensorMerge,
    register,
)
from app.adapters.merge.svd import factored_cut, sampled_sign_conflict, stack


@register
class Linear(MergeMethod):
    name = "linear"
    description = "weighted sum of the deltas (task arithmetic), optionally cut to a rank"

    def merge_tensor(
        self,
        parents: Sequence[Factors | None],
        options: MergeOptions,
        rank: int | None,
        ctx: TensorContext,
    ) -> TensorMerge:
        weights = options.weight_list(len(parents))
        scaled = [
            (p[0], (p[1] * np.float32(w)).astype(np.float32))
            for p, w in zip(parents, weights, strict=True)
            if p is not None and w != 0.0
        ]
        if not scaled:  # every weight zero: a zero delta of rank one
            first = next(p for p in parents if p is not None)
            scaled = [(first[0][:1] * 0, first[1][:, :1] * 0)]
        a, b = stack(scaled)
        conflict = sampled_sign_conflict(scaled, ctx.rng(1))
        if rank is None:
            return TensorMerge(a, b, 1.0, conflict)
        a, b, kept = factored_cut(a, b, rank)
        return TensorMerge(a, b, kept, conflict)
