"""Adapter figures: training speed and memory, export, hot-swap time, decoding with an adapter,
and decoding while a training job runs (through the product's mechanism: the job pauses while
a reply streams). Ratios are against the same engine, same run. Prints one JSON object.

    python tests/benchmarks/adapter.py [--steps N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HEARTH_HOME", tempfile.mkdtemp(prefix="hearth-bench-"))
os.environ["HF_HUB_OFFLINE"] = "1"

from app.adapters.train import TrainingJob, TrainOptions
from app.core import Core
from app.llm.engine import GenerationStats

DATA = Path(__file__).resolve().parents[1] / "adapters" / "data" / "ahoy_style.jsonl"
PROMPT = "Write a short paragraph about autumn in the mountains."
TOKENS = 96


def tok_s(core: Core) -> float:
    stats = GenerationStats()
    messages = [
        {"role": "system", "content": core.settings.system_prompt},
        {"role": "user", "content": PROMPT},
    ]
    for _ in core.engine.chat(messages, max_tokens=TOKENS, temperature=0.0, stats=stats):
        pass
    return stats.tok_s


def median_tok_s(core: Core, rounds: int = 3) -> float:
    return statistics.median(tok_s(core) for _ in range(rounds))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    core = Core.open(load_model=True, n_threads=1)
    out: dict[str, float | int | str] = {}
    try:
        core.engine.wait_loaded()
        service = core.adapters
        service.feedback.import_jsonl(DATA)
        # 1. training, export, verification: one real job through the service.
        outcome = service.train(TrainOptions(steps=args.steps, threads=1, guard_every=0))
        out["train_steps"] = outcome.training["steps_run"]
        out["train_s_per_step"] = round(outcome.training["s_per_step"], 3)
        out["train_peak_rss_mb"] = round(outcome.training["peak_rss_mb"], 1)
        manifest = service.versions.get(outcome.adapter_id).manifest
        out["export_s"] = round(float(manifest.get("export_s") or 0.0), 3)
        out["parity_delta_correlation"] = round(outcome.parity["delta_correlation"], 4)
        out["parity_probe_correlation"] = round(outcome.parity["probe_correlation"], 4)
        out["status"] = outcome.status
        version = service.versions.get(outcome.adapter_id)
        assert version.path is not None, outcome.reason
        # 2. hot swap: set and clear, timed on the engine.
        swaps = []
        for _ in range(10):
            start = time.perf_counter()
            core.engine.set_adapters([(version.path, 1.0)])
            swaps.append(time.perf_counter() - start)
            core.engine.set_adapters([])
        out["swap_ms"] = round(statistics.median(swaps) * 1000, 2)
        # 3. decoding with the adapter against without, interleaved round by round so that
        # the shared machine's load falls on both alike.
        bases, withs = [], []
        for _ in range(5):
            bases.append(tok_s(core))
            core.engine.set_adapters([(version.path, 1.0)])
            withs.append(tok_s(core))
            core.engine.set_adapters([])
        base, with_adapter = statistics.median(bases), statistics.median(withs)
        out["decode_tok_s_base"] = round(base, 1)
        out["decode_ratio_with_adapter"] = round(with_adapter / base, 3)
        # 4. decoding while a training job runs, the job hooked to the engine's busy signal.
        spec = {
            "name": "bench",
            "base_model": str(service.base_model().path),
            "out_dir": tempfile.mkdtemp(prefix="hearth-bench-job-"),
            "split": _split(service),
            "system": core.settings.system_prompt,
            "options": TrainOptions(steps=10_000, threads=1).to_dict(),
        }
        started = threading.Event()
        job = TrainingJob(spec, lambda e: started.set() if e.get("event") == "progress" else None)
        core.engine.add_busy_listener(job.on_busy)
        job.start()
        waiter = threading.Thread(target=_wait_quietly, args=(job,), daemon=True)
        waiter.start()
        started.wait(900)
        idle = median_tok_s(core)  # the job pauses itself during each reply
        core.engine.remove_busy_listener(job.on_busy)
        unpaused = median_tok_s(core)  # for reference: the job left running during the reply
        job.cancel()
        waiter.join(30)
        out["decode_ratio_while_training"] = round(idle / base, 3)
        out["decode_ratio_while_training_unpaused"] = round(unpaused / base, 3)
    finally:
        core.close()
    print(json.dumps(out))


def _split(service: object) -> dict:
    from app.adapters import dataset

    return dataset.build(service.feedback.list()).to_dict()  # type: ignore[attr-defined]


def _wait_quietly(job: TrainingJob) -> None:
    with contextlib.suppress(Exception):  # cancelled on purpose
        job.wait()


if __name__ == "__main__":
    main()
