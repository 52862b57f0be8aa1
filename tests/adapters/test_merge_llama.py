"""Merged adapters in llama.cpp: `cat` gives the logits of its parents stacked at run time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_merge_helpers import Logits, random_adapter

from app.adapters.lora_file import BaseModelInfo, read_lora, write_lora
from app.adapters.merge import make_options, merge_adapters

# FACTS.md: two mathematically identical llama.cpp runs differ by a median of 0.18 in logits
NOISE_MEDIAN = 0.18


@pytest.fixture
def parents(base: BaseModelInfo, tmp_path: Path) -> list[Path]:
    first = random_adapter(base, rank=4, alpha=8.0, b_scale=0.03, seed=11)
    second = random_adapter(
        base, rank=8, alpha=4.0, b_scale=0.05, seed=12, targets=("attn_q", "attn_v", "ffn_up")
    )
    paths = [tmp_path / "p1.gguf", tmp_path / "p2.gguf"]
    write_lora(paths[0], first)
    write_lora(paths[1], second)
    return paths


def _close(x: np.ndarray, y: np.ndarray) -> bool:
    median = float(np.median(np.abs(x - y)))
    return median < NOISE_MEDIAN and (x.argmax(-1) == y.argmax(-1)).mean() >= 0.9


def test_cat_equals_the_parents_stacked_at_run_time(
    base: BaseModelInfo, logits: Logits, parents: list[Path], tmp_path: Path
) -> None:
    merged = merge_adapters([read_lora(p, base) for p in parents], "cat")
    path = tmp_path / "cat.gguf"
    write_lora(path, merged.adapter)
    assert read_lora(path, base).rank == 12
    plain = logits()
    stacked = logits([(parents[0], 1.0), (parents[1], 1.0)])
    one = logits([(path, 1.0)])
    assert np.median(np.abs(stacked - plain)) > 2 * NOISE_MEDIAN  # the parents do something
    assert _close(one, stacked)
    assert not _close(logits([(parents[0], 1.0)]), stacked)  # and each parent alone differs


def test_linear_weights_are_llama_cpp_scales(
    base: BaseModelInfo, logits: Logits, parents: list[Path], tmp_path: Path
) -> None:
    loaded = [read_lora(p, base) for p in parents]
    merged = merge_adapters(loaded, "linear", make_options("linear", weights=[0.5, 1.5]))
    path = tmp_path / "linear.gguf"
    write_lora(path, merged.adapter)
    assert _close(logits([(path, 1.0)]), logits([(parents[0], 0.5), (parents[1], 1.5)]))


@pytest.mark.parametrize("method", ["ties", "dare"])
def test_entry_wise_merges_load_and_stay_near_the_sum(
    method: str, base: BaseModelInfo, logits: Logits, parents: list[Path], tmp_path: Path
) -> None:
    loaded = [read_lora(p, base) for p in parents]
    options = make_options(method, rank=8, **({"density": 0.5} if method == "ties" else {}))
    merged = merge_adapters(loaded, method, options)
    path = tmp_path / f"{method}.gguf"
    write_lora(path, merged.adapter)
    assert read_lora(path, base).rank == 8
    plain = logits()
    stacked = logits([(parents[0], 1.0), (parents[1], 1.0)])
    got = logits([(path, 1.0)])
    moved = np.abs(got - plain).mean()
    assert moved > 0.2 * np.abs(stacked - plain).mean()  # the merge kept a real effect
    change = (got - plain).ravel()
    target = (stacked - plain).ravel()
    assert np.corrcoef(change, target)[0, 1] > 0.3  # in the parents' direction
