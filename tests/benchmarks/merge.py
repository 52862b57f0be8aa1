"""Benchmark: the product's merge of two rank-16 adapters with a 3B model's shapes, and what a
merge of two real adapters of the default model keeps.

Prints one JSON object.
- `seconds`: what consolidation does for a merge before it evaluates it, with the product's
  method, options and thread count (`threads`, as `merge_threads()` chose it on this machine at
  this load, `load_average_1m` beside it): read both parent files, merge, write the merged file
  and its manifest. `cpu_seconds` is the process's CPU time over the same span; `read_s`,
  `merge_s`, `write_s` split it. `peak_rss_mb` is the whole process's peak after this merge.
- `energy_kept_min`/`_mean`, `sign_conflict_mean`: the same product merge of the two real
  adapters (`--real A.gguf B.gguf`, each with its manifest of held-back examples beside it, else
  the "Ahoy!" and "short" adapters trained here first as the test fixtures train them,
  tests/adapters/recipes.py). The 3B-shape figures, on random factors, are `random_3b_*`.
- `retained_min`: the smallest share of its effect any parent keeps under the consolidation
  method, measured through llama.cpp on each parent's held-back examples. Every parent counts:
  one whose effect could not be measured (no held-back examples, or no effect to keep) is
  listed in `unmeasured_parents` and makes `retained_min` null; `retained_min_measured` is the
  smallest over the parents that were measured. Every other method is beside it.

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

from app.adapters import export
from app.adapters.lora_file import LoraAdapter, read_lora, write_lora
from app.adapters.merge import MergeResult, get_method, merge_adapters
from app.adapters.merge.workspace import merge_threads

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


def product_merge(
    files: list[Path], dest: Path, rank: int, threads: int | None, base: Any = None
) -> tuple[MergeResult, dict[str, Any]]:
    """What `consolidate.merge_versions` does before evaluating: read the parents, merge them
    with the consolidation method at its default options, write the file and its manifest."""
    from app.adapters.consolidate import DEFAULT_METHOD

    options = get_method(DEFAULT_METHOD).options_type(rank=rank)
    load = os.getloadavg()[0]
    started, cpu = time.perf_counter(), cpu_seconds()
    parents = [read_lora(f, base) for f in files]
    read_done = time.perf_counter()
    result = merge_adapters(parents, DEFAULT_METHOD, options, threads=threads)
    merge_done = time.perf_counter()
    write_lora(dest, result.adapter)
    export.write_manifest(dest, {"kind": "merged", "merge": result.report.to_dict()})
    done = time.perf_counter()
    summary = result.report.summary()
    figures = {
        "method": DEFAULT_METHOD,
        "options": options.to_dict(),
        "threads": result.report.threads,
        "load_average_1m": round(load, 2),
        "seconds": round(done - started, 2),
        "cpu_seconds": round(cpu_seconds() - cpu, 2),
        "read_s": round(read_done - started, 2),
        "merge_s": round(merge_done - read_done, 2),
        "write_s": round(done - merge_done, 2),
        "energy_kept_min": summary["energy_kept_min"],
        "energy_kept_mean": summary["energy_kept_mean"],
        "sign_conflict_mean": summary["sign_conflict_mean"],
    }
    return result, figures


def held_from_home(adapter: Path) -> list[Any]:
    """An adapter's held-back examples: from its home's feedback (manifests keep only ids), or
    the rows a manifest written before ids carried."""
    from app.adapters.dataset import Example
    from app.adapters.merge import retention
    from tests.adapters.recipes import source_feedback

    manifest = export.read_manifest(adapter)
    if "held_back_ids" not in manifest.get("dataset", {}):
        return retention.held_examples(manifest)
    rows = source_feedback(adapter)
    return [Example(r["prompt"], r["correction"] or r["response"], r["id"]) for r in rows]


def parent_rows(effects: list[Any], n_parents: int) -> tuple[list[dict[str, Any]], list[Any]]:
    """One row per parent, in order, and the parents whose effect could not be measured (with
    why): `retention.measure` leaves out a parent without held-back examples."""
    from app.adapters.consolidate import kept_share

    by_id = {e.id: e for e in effects}
    rows: list[dict[str, Any]] = []
    unmeasured: list[dict[str, Any]] = []
    for index in range(n_parents):
        effect = by_id.get(index)
        if effect is None:
            unmeasured.append({"parent": index, "why": "no held-back examples"})
            rows.append({"parent": index, "retained": None})
            continue
        share = kept_share(effect.to_dict())
        if share is None:
            why = f"no effect to keep (held-back NLL lowered by {effect.effect:.4f} alone)"
            unmeasured.append({"parent": index, "why": why})
        rows.append(
            {
                "parent": index,
                "retained": _round(share),
                "retained_nll": _round(effect.retained),
                "retained_top1": _round(effect.retained_top1),
                "retained_sequence": _round(effect.retained_sequence),
                "effect_nll": _round(effect.effect),
            }
        )
    return rows, unmeasured


def real_retention(
    files: list[Path], rank: int, folder: Path, methods: list[str] | None = None
) -> dict[str, Any]:
    """The product merge of two real adapters of the default model, then each method's
    smallest parent-effect retention, measured through llama.cpp on each parent's held-back
    examples."""
    from app.adapters.consolidate import DEFAULT_METHOD
    from app.adapters.lora_file import base_model_info
    from app.adapters.merge import make_options, retention
    from app.adapters.scoring import LlamaScorer
    from app.llm.models import packaged_default_model
    from app.settings.model import DEFAULT_SYSTEM_PROMPT

    model = packaged_default_model()
    info = base_model_info(model)
    _, product = product_merge(files, folder / "product.gguf", rank, None, info)
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
    if methods:
        plans = {label: options for label, options in plans.items() if label in methods}
    retained: dict[str, Any] = {}
    measured_min: dict[str, Any] = {}
    per_parent: dict[str, Any] = {}
    unmeasured: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    neutral: dict[str, float] = {}
    scorer = LlamaScorer(model, n_threads=1)
    try:
        for label, options in plans.items():
            method = label.split("_")[0]
            started = time.perf_counter()
            merged = merge_adapters(parents, method, options)
            seconds[label] = round(time.perf_counter() - started, 2)
            path = folder / f"{label}.gguf"
            write_lora(path, merged.adapter)
            effects = retention.measure(scorer, path, triples, DEFAULT_SYSTEM_PROMPT)
            neutral[label] = round(retention.neutral_ratio(scorer, path), 4)
            rows, missing = parent_rows(effects, len(files))
            known = [r["retained"] for r in rows if r["retained"] is not None]
            measured_min[label] = min(known) if known else None
            retained[label] = None if missing else measured_min[label]
            per_parent[label] = rows
            if missing:
                unmeasured[label] = missing
    finally:
        scorer.close()
    return {
        **{k: product[k] for k in ("energy_kept_min", "energy_kept_mean", "sign_conflict_mean")},
        "real_product_merge": product,
        # The scoreboard's figure: the method consolidation uses. Every method is beside it.
        "retained_min": retained.get(DEFAULT_METHOD),
        "retained_min_measured": measured_min.get(DEFAULT_METHOD),
        "retained_min_method": DEFAULT_METHOD,
        "unmeasured_parents": unmeasured.get(DEFAULT_METHOD, []),
        "unmeasured_parents_by_method": unmeasured,
        "retained_min_by_method": retained,
        "retained_per_parent": per_parent,
        "real_merge_seconds": seconds,
        "real_neutral_ppl_ratio": neutral,
        "real_rank": rank,
        "real_parents": [str(f) for f in files],
    }


def trained_retention(rank: int, folder: Path, methods: list[str] | None) -> dict[str, Any]:
    """`real_retention` for the two test adapters, trained here in temporary homes."""
    from tests.adapters.recipes import train_both

    started = time.perf_counter()
    files = train_both(folder)
    train_s = round(time.perf_counter() - started, 1)
    result = real_retention(list(files), rank, folder, methods)
    result["real_parents"] = ["trained: ahoy", "trained: short"]
    result["real_train_s"] = train_s
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=28)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--threads", type=int, help="force a thread count (default: product's)")
    parser.add_argument("--real", type=Path, nargs=2, metavar="GGUF", help="two trained adapters")
    parser.add_argument("--real-rank", type=int, default=8)
    parser.add_argument("--methods", nargs="+", help="measure only these (e.g. ties; default all)")
    parser.add_argument("--no-real", action="store_true", help="only the 3B-shape merge")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {
        "layers": args.layers,
        "rank": args.rank,
        "cores": len(os.sched_getaffinity(0)),
        "product_threads_now": merge_threads(),
    }
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / f"parent{i}.gguf" for i in (1, 2)]
        for seed, path in enumerate(paths):
            write_lora(path, random_adapter(args.layers, args.rank, seed))
        rss_before = peak_rss_mb()
        dest = Path(folder) / "merged.gguf"
        merged, figures = product_merge(paths, dest, args.rank, args.threads)
        result["threads_forced"] = args.threads is not None
        result.update({k: v for k, v in figures.items() if not k.startswith(("energy", "sign"))})
        result.update({f"random_3b_{k}": v for k, v in figures.items() if k.startswith("energy")})
        del merged
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["peak_rss_mb_before_merge"] = round(rss_before, 1)
    with tempfile.TemporaryDirectory() as folder:
        if args.no_real:
            pass
        elif args.real:
            result.update(
                real_retention(list(args.real), args.real_rank, Path(folder), args.methods)
            )
        else:
            result.update(trained_retention(args.real_rank, Path(folder), args.methods))
    result["targets"] = {"seconds": 60, "peak_rss_mb": 1500, "retained_min": 0.9}
    result["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
