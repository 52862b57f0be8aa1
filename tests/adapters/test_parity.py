"""The logit-parity check passes for the right export and fails for an unpermuted one.

Both are built from the factors the session's training run kept (HF row order) and checked
against the torch logits it recorded, through a fresh llama.cpp with each file swapped in.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.adapters import export, verify
from app.adapters.lora_file import write_lora
from app.adapters.scoring import LlamaScorer
from tests.adapters.conftest import Trained


def _factors(job_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    data = np.load(job_dir / "factors.npz")
    names = {key.rsplit("|", 1)[0] for key in data.files}
    return {n: (data[f"{n}|a"], data[f"{n}|b"]) for n in names}


@pytest.fixture(scope="module")
def parity_results(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> dict:
    job = trained.job_dir
    saved_check = json.loads((job / "check_seqs.json").read_text())
    check = [(ids, slice(start, stop)) for ids, (start, stop) in saved_check["rows"]]
    saved = np.load(job / "torch_logits.npz")

    def arrays(prefix: str) -> list[np.ndarray]:  # a group's probe covers the first few
        return [saved[key] for i in range(len(check)) if (key := f"{prefix}|{i}") in saved.files]

    probes = {name: (scale, arrays(name)) for name, scale in saved_check["scales"].items()}
    factors = _factors(job)
    out = tmp_path_factory.mktemp("parity")
    results = {}
    scorer = LlamaScorer(trained.base_model, n_threads=1)
    try:
        for permute in (True, False):
            adapter = export.to_llama_cpp(
                factors, architecture="llama", n_head=9, n_kv_head=3, alpha=16.0, permute=permute
            )
            path = out / f"permute-{permute}.gguf"
            write_lora(path, adapter)
            results[permute] = verify.check(
                scorer, path, adapter, check, arrays("base"), arrays("adapter"), probes, out
            )
    finally:
        scorer.close()
    return results


def test_correct_export_agrees_with_torch(parity_results: dict) -> None:
    good = parity_results[True]
    assert good.passed, good.reason
    assert good.probe_correlation >= verify.MIN_DELTA_CORRELATION
    assert min(good.groups.values()) >= verify.MIN_GROUP_CORRELATION
    assert good.top1_adapter >= good.top1_base - verify.TOP1_SLACK


def test_unpermuted_export_is_refused(parity_results: dict) -> None:
    bad, good = parity_results[False], parity_results[True]
    assert not bad.passed
    assert bad.groups["attention q/k"] < verify.MIN_GROUP_CORRELATION
    assert good.groups["attention q/k"] >= verify.MIN_GROUP_CORRELATION
    # The parts that need no permutation agree either way.
    assert bad.groups["mlp"] == pytest.approx(good.groups["mlp"])
    assert "attention q/k" in bad.reason


def test_permutation_matches_llama_cpp_converter() -> None:
    # Rows of 2 heads x 4 dims: llama.cpp interleaves each head's two halves.
    rows = np.arange(8, dtype=np.float32).reshape(8, 1)
    out = export.permute_rows(rows, n_head=2).ravel().tolist()
    assert out == [0, 2, 1, 3, 4, 6, 5, 7]
    assert export.tensor_name("base_model.model.model.layers.7.mlp.down_proj") == (
        "blk.7.ffn_down.weight"
    )
    assert export.tensor_name("model.embed_tokens") is None
