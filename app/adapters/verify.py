"""The logit-parity check: llama.cpp with the exported adapter must agree with torch + PEFT.

Both engines score the same token ids (held-back prompts with their preferred answers) with and
without the adapter. Top-1 agreement with the adapter must be at the level the quantised path
allows (measured on the base model, where the weights are identical), and the adapter's change
of the logits (with minus without) must correlate at >= 0.98 between the two engines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

MIN_DELTA_CORRELATION = 0.98
TOP1_SLACK = 0.05  # agreement may fall this far below the base model's own agreement

Floats = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Parity:
    positions: int
    top1_base: float  # torch vs llama.cpp, both without the adapter: the noise level
    top1_adapter: float  # torch vs llama.cpp, both with the adapter
    delta_correlation: float
    delta_rms_torch: float
    max_abs_diff_median: float
    passed: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(
    torch_base: Sequence[Floats],
    torch_adapter: Sequence[Floats],
    llama_base: Sequence[Floats],
    llama_adapter: Sequence[Floats],
) -> Parity:
    """Each argument: one (positions x vocab) array per sequence, the same positions in all."""
    tb, ta = np.concatenate(torch_base), np.concatenate(torch_adapter)
    lb, la = np.concatenate(llama_base), np.concatenate(llama_adapter)
    top1_base = float((tb.argmax(-1) == lb.argmax(-1)).mean())
    top1_adapter = float((ta.argmax(-1) == la.argmax(-1)).mean())
    d_torch = (ta - tb).ravel().astype(np.float64)
    d_llama = (la - lb).ravel().astype(np.float64)
    corr = _pearson(d_torch, d_llama)
    diff_median = float(np.median(np.abs(ta - la).max(axis=-1)))
    reasons = []
    if corr < MIN_DELTA_CORRELATION:
        reasons.append(
            f"the adapter's effect in llama.cpp correlates {corr:.3f} with torch's "
            f"(needs >= {MIN_DELTA_CORRELATION})"
        )
    if top1_adapter < top1_base - TOP1_SLACK:
        reasons.append(
            f"top-1 agreement with the adapter is {top1_adapter:.2f}, without it {top1_base:.2f}"
        )
    return Parity(
        positions=int(tb.shape[0]),
        top1_base=top1_base,
        top1_adapter=top1_adapter,
        delta_correlation=corr,
        delta_rms_torch=float(np.sqrt(np.mean(d_torch**2))),
        max_abs_diff_median=diff_median,
        passed=not reasons,
        reason="; ".join(reasons) or "llama.cpp and torch agree",
    )


def _pearson(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> float:
    x = x - x.mean()
    y = y - y.mean()
    denom = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / denom) if denom > 0 else 0.0
