"""The logit-parity check: llama.cpp with the exported adapter must agree with torch + PEFT.

Both engines score the same token ids (held-back prompts with their preferred answers) with and
without the adapter. Top-1 agreement with the adapter must be at the level the quantised path
allows (measured on the base model, where the weights are identical), and the adapter's change
of the logits (with minus without) must correlate at >= 0.98 between the two engines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

MIN_DELTA_CORRELATION = 0.98
TOP1_SLACK = 0.05  # agreement may fall this far below the base model's own agreement
# The whole adapter's effect can hide a wrong part (unpermuted q/k rows moved the overall
# correlation only from 0.994 to 0.991 here), so each group of tensors is also checked on its
# own. A weak adapter's effect is close to the quantisation noise (a correct 6-step adapter
# measured 0.977), so each check runs at a probe strength that lifts the torch-side effect to
# about PROBE_RMS logits: both engines compute the same function at any strength, and the noise
# does not grow with it. Measured at 4x: q/k group 0.98 right, 0.19 unpermuted.
GROUPS: dict[str, tuple[str, ...]] = {
    "attention q/k": ("attn_q", "attn_k"),
    "attention v/o": ("attn_v", "attn_output"),
    "mlp": ("ffn_gate", "ffn_up", "ffn_down"),
}
ALL = "all tensors"
PROBE_RMS = 6.0
MAX_PROBE_SCALE = 16.0
MIN_GROUP_CORRELATION = 0.9


def probe_sets() -> dict[str, tuple[str, ...]]:
    """What is checked on its own: the whole adapter, then each group."""
    everything = tuple(member for members in GROUPS.values() for member in members)
    return {ALL: everything, **GROUPS}


def probe_scale(base: Sequence[Floats], at_one: Sequence[Floats]) -> float:
    """The strength that makes the torch-side effect about PROBE_RMS logits (1 to 16)."""
    delta = np.concatenate(at_one) - np.concatenate(base)
    rms = float(np.sqrt(np.mean(delta.astype(np.float64) ** 2)))
    if rms <= 0:
        return 1.0
    return float(min(MAX_PROBE_SCALE, max(1.0, PROBE_RMS / rms)))


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
    probe_correlation: float = 0.0  # the whole adapter at its probe strength
    groups: dict[str, float] = field(default_factory=dict)
    scales: dict[str, float] = field(default_factory=dict)  # probe strength per check

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


def in_group(tensor: str, members: tuple[str, ...]) -> bool:
    return any(f".{member}." in tensor for member in members)


def check(
    scorer: Any,
    adapter_path: Path,
    adapter: Any,
    seqs: Sequence[tuple[Sequence[int], slice]],
    torch_base: Sequence[Floats],
    torch_adapter: Sequence[Floats],
    probes: Mapping[str, tuple[float, Sequence[Floats]]],
    work_dir: Path,
) -> Parity:
    """Score `seqs` in llama.cpp (a LlamaScorer) and compare with torch: the whole adapter at
    strength 1 (top-1 agreement, effect correlation), then each entry of `probes` (name ->
    (strength, torch logits with only those tensors on, for the first few of `seqs`)) at its
    probe strength."""
    from app.adapters.lora_file import LoraAdapter, write_lora

    def run(path: Path | None, scale: float = 1.0, n: int | None = None) -> list[Floats]:
        scorer.use(path, scale)
        return [scorer.logits(ids)[rows] for ids, rows in seqs[:n]]

    llama_base = run(None)
    parity = compare(torch_base, torch_adapter, llama_base, run(adapter_path))
    reasons = []
    if parity.top1_adapter < parity.top1_base - TOP1_SLACK:
        reasons.append(
            f"top-1 agreement with the adapter is {parity.top1_adapter:.2f}, "
            f"without it {parity.top1_base:.2f}"
        )
    groups: dict[str, float] = {}
    scales: dict[str, float] = {}
    for index, (name, (scale, torch_logits)) in enumerate(probes.items()):
        members = probe_sets()[name]
        path = adapter_path
        if name != ALL:
            tensors = {n: ab for n, ab in adapter.tensors.items() if in_group(n, members)}
            if not tensors:
                continue
            path = Path(work_dir) / f"parity-group-{index}.gguf"
            write_lora(
                path, LoraAdapter(adapter.architecture, adapter.alpha, adapter.rank, tensors, {})
            )
        # A probe may cover only the first few sequences (the torch logits say how many).
        n = len(torch_logits)
        llama_logits = np.concatenate(run(path, scale, n))
        scorer.drop(path)
        if path != adapter_path:
            path.unlink(missing_ok=True)
        tb_n, lb_n = np.concatenate(torch_base[:n]), np.concatenate(llama_base[:n])
        delta_t = (np.concatenate(torch_logits) - tb_n).ravel().astype(np.float64)
        corr = _pearson(delta_t, (llama_logits - lb_n).ravel().astype(np.float64))
        groups[name], scales[name] = corr, scale
        needed = MIN_DELTA_CORRELATION if name == ALL else MIN_GROUP_CORRELATION
        if corr < needed:
            what = "the adapter's effect" if name == ALL else f"the {name} tensors' effect"
            reasons.append(
                f"{what} in llama.cpp correlates {corr:.3f} with torch's at strength "
                f"{scale:.1f} (needs >= {needed}; a layout error in the export?)"
            )
    scorer.use(None)
    return replace(
        parity,
        probe_correlation=groups.pop(ALL, parity.delta_correlation),
        groups=groups,
        scales=scales,
        passed=not reasons,
        reason="; ".join(reasons) or "llama.cpp and torch agree",
    )
