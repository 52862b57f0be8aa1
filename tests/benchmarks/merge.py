"""Benchmark: merge two rank-16 adapters with a 3B model's shapes by TIES, cut back to rank 16.

Prints one JSON object: `seconds` (the merge), `peak_rss_mb` (the whole process), and
`retained_min` per method for two real adapters of the default model, each with its manifest of
held-back examples beside it: `--real A.gguf B.gguf`, else the "Ahoy!" and "short" adapters
trained here first the way the test fixtures train them (tests/adapters/recipes.py), each in its
own temporary HEARTH_HOME. The 3B-shape timing runs before any training.

    .venv/bin/python tests/benchmarks/merge.py [--layers 28] [--real A.gguf B.gguf]
"""

from __future__ import annotations

import argparse
import json
import os
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


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def held_from_home(adapter: Path) -> list[Any]:
    """An adapter's held-back examples: from its home's feedback (manifests keep only ids), or
    the rows a manifest written before ids carried."""
    from app.adapters import export
    from app.adapters.dataset import Example
    from app.adapters.merge import retention
    from tests.adapters.recipes import source_feedback

    manifest = export.read_manifest(adapter)
    if "held_back_ids" not in manifest.get("dataset", {}):
        return retention.held_examples(manifest)
    rows = source_feedback(adapter)
    return [Example(r["prompt"], r["correction"] or r["response"], r["id"]) for r in rows]


def real_retention(files: list[Path], rank: int) -> dict[str, Any]:
    """Each method's smallest parent-effect retention for two real adapters of the default
    model, measured through llama.cpp on each parent's held-back examples."""
    from app.adapters.consolidate import DEFAULT_METHOD, kept_share
    from app.adapters.lora_file import base_model_info
    from app.adapters.merge import make_options, retention
    from app.adapters.scoring import LlamaScorer
    from app.llm.models import packaged_default_model
    from app.settings.model import DEFAULT_SYSTEM_PROMPT

    model = packaged_default_model()
    info = base_model_info(model)
    parents = [read_lora(f, info) for f in files]
    triples = [(i, f, held_from_home(f)) for i, f in enumerate(files)]
    plans = {
        "cat": make_options("cat"),
        "linear": make_options("linear", rank=rank),
        "linear_mean": make_options("linear", rank=rank, weights=[0.5, 0.5]),
        "ties": make_options("ties", rank=rank, density=0.5),
        "ties_d0.2": make_options("ties", rank=rank, density=0.2),
        "ties_d1": make_options("ties", rank=rank, density=1.0),
        "dare_linear": make_options("dare", rank=rank, drop=0.5),
        "dare_ties": make_options("dare", rank=rank, drop=0.5, variant="ties"),
    }
    retained: dict[str, Any] = {}
    per_parent: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    neutral: dict[str, float] = {}
    scorer = LlamaScorer(model, n_threads=1)
    try:
        with tempfile.TemporaryDirectory() as folder:
            for label, options in plans.items():
                method = label.split("_")[0]
                started = time.perf_counter()
                merged = merge_adapters(parents, method, options)
                seconds[label] = round(time.perf_counter() - started, 2)
                path = Path(folder) / f"{label}.gguf"
                write_lora(path, merged.adapter)
                effects = retention.measure(scorer, path, triples, DEFAULT_SYSTEM_PROMPT)
                neutral[label] = round(retention.neutral_ratio(scorer, path), 4)
                kept = [kept_share(e.to_dict()) for e in effects]
                known = [k for k in kept if k is not None]
                retained[label] = round(min(known), 4) if known else None
                per_parent[label] = [
                    {
                        "retained_nll": _round(e.retained),
                        "retained_top1": _round(e.retained_top1),
                        "retained_sequence": _round(e.retained_sequence),
                    }
                    for e in effects
                ]
    finally:
        scorer.close()
    return {
        # The scoreboard's figure: the method consolidation uses. Every method is beside it.
        "retained_min": retained.get(DEFAULT_METHOD),
        "retained_min_method": DEFAULT_METHOD,
        "retained_min_by_method": retained,
        "retained_per_parent": per_parent,
        "real_merge_seconds": seconds,
        "real_neutral_ppl_ratio": neutral,
        "real_rank": rank,
        "real_parents": [str(f) for f in files],
    }


def trained_retention(rank: int) -> dict[str, Any]:
    """`real_retention` for the two test adapters, trained here in temporary homes."""
    from tests.adapters.recipes import train_both

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        files = train_both(Path(folder))
        train_s = round(time.perf_counter() - started, 1)
        result = real_retention(list(files), rank)
    result["real_parents"] = ["trained: ahoy", "trained: short"]
    result["real_train_s"] = train_s
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=28)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--density", type=float, default=0.5)
    parser.add_argument("--power-iters", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2, help="tensors merged at once")
    parser.add_argument("--real", type=Path, nargs=2, metavar="GGUF", help="two trained adapters")
    parser.add_argument("--real-rank", type=int, default=8)
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
        started, cpu = time.perf_counter(), cpu_seconds()
        merged = merge_adapters(parents, "ties", options, threads=args.threads)
        result["seconds"] = round(time.perf_counter() - started, 2)
        result["cpu_s"] = round(cpu_seconds() - cpu, 2)  # what the merge costs without contention
        started = time.perf_counter()
        write_lora(Path(folder) / "merged.gguf", merged.adapter)
        result["write_s"] = round(time.perf_counter() - started, 2)
    summary = merged.report.summary()
    result["energy_kept_min"] = summary["energy_kept_min"]
    result["energy_kept_mean"] = summary["energy_kept_mean"]
    result["sign_conflict_mean"] = summary["sign_conflict_mean"]
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    if args.real:
        result.update(real_retention(args.real, args.real_rank))
    else:
        result.update(trained_retention(args.real_rank))
    result["peak_rss_mb_before_merge"] = round(rss_before, 1)
    result["targets"] = {"seconds": 60, "peak_rss_mb": 1500}
    result["load_average_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
