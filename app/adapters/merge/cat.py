"""`cat`: concatenate the parents' factors along the rank; the delta is exactly their sum.

The rank grows with every parent, so it is the exact reference and the input of a rank cut
rather than what consolidation keeps.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.adapters.merge.base import (
    Factors,
    MergeMethod,
    MergeOptions,
    TensorContext,
    TensorMerge,
    register,
)
from app.adapters.merge.svd import factored_cut, sampled_sign_conflict, stack
from app.errors import AdapterError


@register
class Cat(MergeMethod):
    name = "cat"
    description = "exact sum of the deltas (rank = sum of the parents' ranks unless cut)"

    def check(self, options: MergeOptions, n_parents: int) -> None:
        super().check(options, n_parents)
        if options.weights is not None and any(w != 1.0 for w in options.weights):
            raise AdapterError("cat adds the adapters as they are; use 'linear' for weights")

    def merge_tensor(
        self,
        parents: Sequence[Factors | None],
        options: MergeOptions,
        rank: int | None,
        ctx: TensorContext,
    ) -> TensorMerge:
        present = [p for p in parents if p is not None]
        a, b = stack(present)
        conflict = sampled_sign_conflict(present, ctx.rng(1))
        if rank is None:
            return TensorMerge(a, b, 1.0, conflict)
        a, b, kept = factored_cut(a, b, rank)
        return TensorMerge(a, b, kept, conflict)
