"""Log-likelihoods and logits from the PEFT model in the training process, several sequences
per forward pass, at any strength of the adapter being trained.

The evaluation gate and the training guard both score here, in float32 on the same dequantised
weights llama.cpp runs (after the parity check has shown llama.cpp applies the same adapter).
Measured on a 2-core AVX-512 machine: the eight neutral texts (~670 tokens) in 2.2 s in one
padded pass, 3.6 s one text at a time, ~4.5 s through llama.cpp.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.adapters.base_measures import BaseMeasures

Pairs = Sequence[tuple[Sequence[int], Sequence[int]]]
# Rows of logits held at once: positions x vocabulary x 4 bytes (49k words: ~200 KB a row).
MAX_ROWS = 1024


@contextlib.contextmanager
def scaled(model: Any, factor: float, members: tuple[str, ...] | None = None) -> Iterator[None]:
    """The LoRA modules at `factor` times their trained strength while inside; with `members`
    (llama.cpp tensor kinds such as `attn_q`) only those, the others off."""
    from app.adapters.export import tensor_name

    saved = []
    for name, module in model.named_modules():
        scaling = getattr(module, "scaling", None)
        target = tensor_name(name)
        if not isinstance(scaling, dict) or "default" not in scaling or target is None:
            continue
        saved.append((scaling, scaling["default"]))
        on = members is None or any(f".{member}." in target for member in members)
        scaling["default"] = scaling["default"] * factor if on else 0.0
    try:
        yield
    finally:
        for scaling, value in saved:
            scaling["default"] = value


def chunks(lengths: Sequence[int]) -> list[list[int]]:
    """Indices of sequences grouped for one forward pass each (similar lengths together, so
    little is padding), at most MAX_ROWS padded positions a group."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    out: list[list[int]] = []
    for index in order:
        group = out[-1] if out else None
        if group is not None and (len(group) + 1) * lengths[index] <= MAX_ROWS:
            group.append(index)
        else:
            out.append([index])
    return out


def padded(seqs: Sequence[Sequence[int]]) -> tuple[Any, Any]:
    """Token ids and attention mask of `seqs` as one batch, padding after each sequence (causal
    attention never sees it)."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.zeros((len(seqs), width), dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = torch.tensor(list(seq))
        mask[row, : len(seq)] = 1
    return ids, mask


def batch_logits(model: Any, seqs: Sequence[Sequence[int]]) -> list[Any]:
    """Logits (positions x vocab, float32 numpy) of each sequence, padded forward passes."""
    import torch

    out: list[Any] = [None] * len(seqs)
    with torch.no_grad():
        for group in chunks([len(s) for s in seqs]):
            ids, mask = padded([seqs[i] for i in group])
            logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
            for row, i in enumerate(group):
                out[i] = logits[row, : len(seqs[i])].float().numpy()
    return out


def summed_nll(model: Any, sequences: Pairs) -> tuple[float, int]:
    """Summed NLL of the labelled tokens (labels >= 0; row t predicts token t+1) and their
    count, in padded forward passes that keep only the rows that predict a label."""
    import torch
    from torch.nn import functional

    total, count = 0.0, 0
    with torch.no_grad():
        for group in chunks([len(ids) for ids, _ in sequences]):
            ids, mask = padded([sequences[i][0] for i in group])
            width = ids.shape[1]
            labels = torch.full((len(group), width), -100, dtype=torch.long)
            for row, i in enumerate(group):
                seq_labels = sequences[i][1]
                labels[row, : len(seq_labels)] = torch.tensor(list(seq_labels))
            labels = labels.masked_fill(labels < 0, -100)
            scored = (labels[:, 1:] >= 0).any(dim=0).nonzero()
            if not len(scored):
                continue
            start = int(scored[0])  # the first row that predicts a label
            logits = model(
                input_ids=ids, attention_mask=mask, use_cache=False, logits_to_keep=width - start
            ).logits[:, :-1]
            targets = labels[:, start + 1 :]
            nll = functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]).float(),
                targets.reshape(-1),
                ignore_index=-100,
                reduction="sum",
            )
            total += float(nll)
            count += int((targets >= 0).sum())
    return total, count


class TorchScorer:
    """The scorer interface of `app.adapters.scoring.LlamaScorer` (use, mean_nll) over the
    PEFT model being trained: `use(None)` is the base model, `use(anything, s)` the model's
    own adapter at strength s (the adapter argument names the exported file it stands for).

    A measure is remembered until the adapter's weights change (torch counts every in-place
    change of a tensor: an optimiser step, a rollback), so the gate does not pay again for
    what the training guard measured last on the same weights; the base model's measures of
    the shipped texts are kept for the next training (`kept`, app.adapters.base_measures)."""

    def __init__(self, model: Any, kept: BaseMeasures | None = None) -> None:
        self.model = model
        self.kept = kept
        self._scale: float | None = None
        self._memo: dict[tuple[Any, ...], float] = {}

    def use(self, adapter: Any, scale: float = 1.0) -> None:
        self._scale = None if adapter is None else float(scale)

    def _weights(self) -> int:
        return sum(p._version for p in self.model.parameters() if p.requires_grad)

    def mean_nll(self, sequences: Pairs) -> float:
        state = None if self._scale is None else (self._scale, self._weights())
        key = (state, tuple((tuple(ids), tuple(labels)) for ids, labels in sequences))
        if key not in self._memo:
            if self._scale is None and self.kept is not None:
                self._memo[key] = self.kept.number(
                    engine(self.model), sequences, lambda: self._measure(sequences)
                )
            else:
                self._memo[key] = self._measure(sequences)
        return self._memo[key]

    def _measure(self, sequences: Pairs) -> float:
        switch = (
            self.model.disable_adapter() if self._scale is None else scaled(self.model, self._scale)
        )
        with switch:
            total, count = summed_nll(self.model, sequences)
        return total / max(count, 1)


def engine(model: Any, precision: str = "float32") -> str:
    """What decides torch's figures on `model` to the last bit, for keeping them
    (base_measures): the torch build, the arithmetic, the attention, the threads."""
    import torch

    attention = getattr(model.config, "_attn_implementation", None)
    return f"torch {torch.__version__} {precision} {attention} threads {torch.get_num_threads()}"
