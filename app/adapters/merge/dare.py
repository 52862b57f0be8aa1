"""`dare` (Yu et al. 2023): drop each delta entry with probability p, rescale the rest by
1/(1-p), then combine linearly or with TIES' sign election; then cut back to the rank.

Drops are seeded per tensor and parent, so a merge is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.adapters.lora_file import FloatArray
from app.adapters.merge.base import (
    Factors,
    MergeMethod,
    MergeOptions,
    TensorContext,
    TensorMerge,
    register,
)
from app.adapters.merge.dense import count_conflicts, elect_and_mean, merge_dense
from app.adapters.merge.workspace import Workspace
from app.errors import AdapterError

VARIANTS = ("linear", "ties")


@dataclass(frozen=True)
class DareOptions(MergeOptions):
    drop: float = 0.5  # probability p that an entry is dropped
    variant: str = "linear"  # how the rescaled deltas are combined: "linear" or "ties"


@register
class Dare(MergeMethod):
    name = "dare"
    options_type = DareOptions
    description = "drop entries with probability p, rescale by 1/(1-p); linear or TIES; SVD"
    dense = True

    def check(self, options: MergeOptions, n_parents: int) -> None:
        super().check(options, n_parents)
        if not isinstance(options, DareOptions) or not 0.0 <= options.drop < 1.0:
            raise AdapterError("dare needs a drop probability in [0, 1)")
        if options.variant not in VARIANTS:
            raise AdapterError(f"dare variant must be one of {', '.join(VARIANTS)}")
        if options.variant == "ties" and any(w <= 0 for w in options.weight_list(n_parents)):
            raise AdapterError("dare-ties weights must be positive")

    def merge_tensor(
        self,
        parents: Sequence[Factors | None],
        options: MergeOptions,
        rank: int | None,
        ctx: TensorContext,
    ) -> TensorMerge:
        assert isinstance(options, DareOptions)
        p = options.drop
        rescale = np.float32(1.0 / (1.0 - p))
        rngs = [ctx.rng(10 + i) for i, parent in enumerate(parents) if parent is not None]

        def block_fn(
            blocks: list[FloatArray], weights: list[float], out: FloatArray, ws: Workspace
        ) -> tuple[int, int]:
            for block, rng in zip(blocks, rngs, strict=True):
                if p > 0.0:
                    kept = rng.random(block.shape, dtype=np.float32) >= np.float32(p)
                    block *= kept
                    block *= rescale
            if options.variant == "ties":
                return elect_and_mean(blocks, weights, out, ws)
            touched, conflicts = count_conflicts(blocks)
            out.fill(0.0)
            for block, w in zip(blocks, weights, strict=True):
                out += np.float32(w) * block
            return touched, conflicts

        return merge_dense(parents, options, rank, ctx, block_fn)
