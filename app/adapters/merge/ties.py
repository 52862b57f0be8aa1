"""`ties` (Yadav et al. 2023): trim each delta to its largest entries, elect a sign per entry,
and average only the parents that agree with it; then cut back to the rank.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.adapters.lora_file import FloatArray
from app.adapters.merge.base import (
    Factors,
    MergeMethod,
    MergeOptions,
    TensorContext,
    TensorMerge,
    register,
)
from app.adapters.merge.dense import elect_and_mean, merge_dense, trim_block, trim_threshold
from app.adapters.merge.workspace import Workspace
from app.errors import AdapterError


@dataclass(frozen=True)
class TiesOptions(MergeOptions):
    # Share of each delta's entries kept (largest magnitudes). The paper's 0.2 is for full
    # fine-tunes; on Hearth's LoRA deltas 0.5 kept the parents' effects best (consolidate.py).
    density: float = 0.5


@register
class Ties(MergeMethod):
    name = "ties"
    options_type = TiesOptions
    description = "trim to the top-density magnitudes, elect signs, disjoint mean; SVD to rank"
    dense = True

    def check(self, options: MergeOptions, n_parents: int) -> None:
        super().check(options, n_parents)
        if not isinstance(options, TiesOptions) or not 0.0 < options.density <= 1.0:
            raise AdapterError("ties needs a density between 0 (exclusive) and 1")
        if any(w <= 0 for w in options.weight_list(n_parents)):
            raise AdapterError("ties weights must be positive")

    def merge_tensor(
        self,
        parents: Sequence[Factors | None],
        options: MergeOptions,
        rank: int | None,
        ctx: TensorContext,
    ) -> TensorMerge:
        assert isinstance(options, TiesOptions)
        thresholds = [
            trim_threshold(p, options.density, ctx.rng(10 + i))
            for i, p in enumerate(parents)
            if p is not None
        ]

        def block_fn(
            blocks: list[FloatArray], weights: list[float], out: FloatArray, ws: Workspace
        ) -> tuple[int, int]:
            for block, threshold in zip(blocks, thresholds, strict=True):
                trim_block(block, threshold, ws)
            return elect_and_mean(blocks, weights, out, ws)

        return merge_dense(parents, options, rank, ctx, block_fn)
