"""Next-token logits and log-likelihoods from llama.cpp, with or without an adapter.

A private `llama_cpp.Llama` (logits for every position, one thread) used by the training job
for verification and the evaluation gate; adapters go on and off through `app.llm.lora_swap`,
the same calls the engine uses for its hot swap.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from app.llm import lora_swap

if TYPE_CHECKING:
    from app.adapters.base_measures import BaseMeasures

Floats = npt.NDArray[np.float32]


class LlamaScorer:
    """`kept`: where the base model's measures of the shipped texts are kept between
    trainings (app.adapters.base_measures)."""

    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx: int = 1024,
        n_threads: int = 1,
        kept: BaseMeasures | None = None,
    ) -> None:
        import llama_cpp

        from app.llm.llama_loader import load_llama

        self.llama: Any = load_llama(
            Path(model_path), n_ctx=n_ctx, n_threads=n_threads, logits_all=True
        )
        self._loaded: dict[Path, lora_swap.LoadedAdapter] = {}
        self.kept = kept
        self._base = True
        # Not the context size: each training sizes it to its longest example (and llama.cpp
        # its batch with it), and a sequence scored in one batch gets the same logits in any
        # (measured: the neutral set's NLL equal to the last digit at n_ctx 256, 287, 1024).
        version = getattr(llama_cpp, "__version__", "?")
        self._engine = f"llama.cpp {version} threads {n_threads}"

    def use(self, adapter: Path | None, scale: float = 1.0) -> None:
        """Score under this adapter from now on (None: the base model)."""
        self._base = adapter is None
        if adapter is None:
            lora_swap.set_adapters(self.llama, [])
            return
        adapter = Path(adapter)
        if adapter not in self._loaded:
            self._loaded[adapter] = lora_swap.load_adapter(self.llama, adapter)
        lora_swap.set_adapters(self.llama, [(self._loaded[adapter], scale)])

    def drop(self, adapter: Path) -> None:
        """Unload an adapter file (it may be rewritten under the same name next)."""
        loaded = self._loaded.pop(Path(adapter), None)
        if loaded is not None:
            lora_swap.set_adapters(self.llama, [])
            self._base = True
            loaded.free()

    def logits(self, ids: Sequence[int]) -> Floats:
        """Logits at every position of `ids` (row i predicts token i+1)."""
        self.llama.reset()
        self.llama.eval(list(ids))
        return np.array(self.llama.scores[: len(ids)], dtype=np.float32)

    def mean_nll(self, sequences: Sequence[tuple[Sequence[int], Sequence[int]]]) -> float:
        if self._base and self.kept is not None:
            return self.kept.number(self._engine, sequences, lambda: mean_nll(self, sequences))
        return mean_nll(self, sequences)

    def close(self) -> None:
        for adapter in self._loaded.values():
            adapter.free()
        self._loaded.clear()
        self.llama.close()


def log_softmax(logits: Floats) -> Floats:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def token_nll(logits: Floats, ids: Sequence[int], labels: Sequence[int]) -> tuple[float, int]:
    """Summed negative log-likelihood of the labelled tokens, and how many there were."""
    logp = log_softmax(logits[:-1])
    total, count = 0.0, 0
    for pos in range(len(ids) - 1):
        if labels[pos + 1] < 0:
            continue
        total -= float(logp[pos, ids[pos + 1]])
        count += 1
    return total, count


def mean_nll(
    scorer: LlamaScorer, sequences: Sequence[tuple[Sequence[int], Sequence[int]]]
) -> float:
    total, count = 0.0, 0
    for ids, labels in sequences:
        nll, n = token_nll(scorer.logits(ids), ids, labels)
        total += nll
        count += n
    return total / max(count, 1)
