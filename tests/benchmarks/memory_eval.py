"""Recall@5/@10 of memory search designs on generated multi-session conversations.

Each dialog turn is imported as one memory (like `hearth memory import`); a question counts as
found at k when every evidence turn is among the source ids of the top k hits. Prints one JSON
object: {design: {"recall@5": ..., "recall@10": ...}, ...}.
Usage: .venv/bin/python tests/benchmarks/memory_eval.py [--dialogs 10] [--pooled]
       [--hard tune|held]: the harder conversations of memory_dialogs_hard.py (one part of its
       seeds), with recall by question type for each design under "by_type".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from memory_dialogs import NAMES, generate

# (vectors, search options): "plain" embeds each turn's text as is and the question as asked;
# "final" mixes in the turn each one answers, and embeds the question without the speaker it
# names, favouring that speaker's turns instead (app.memory.dialog).
_OFF = dict(
    hybrid=False,
    window=0,
    speaker_bonus=0.0,
    speaker_fused=1.0,
    neighbour_weight=0.0,
    date_weight=0.0,
)
DESIGNS = {
    "dense_plain": ("plain", _OFF),
    "hybrid_rrf_plain": ("plain", {**_OFF, "hybrid": True, "fts_weight": 1.0}),
    "dense_final_vectors": ("final", {**_OFF, "speaker_bonus": 0.2}),
    "hybrid_final_vectors": ("final", {**_OFF, "speaker_bonus": 0.2, "hybrid": True}),
    "hybrid_speaker_fused": (
        "final",
        {**_OFF, "speaker_bonus": 0.2, "speaker_fused": 1.6, "hybrid": True},
    ),
    "hybrid_neighbour_score": (
        "final",
        {**_OFF, "speaker_bonus": 0.2, "hybrid": True, "neighbour_weight": 0.3},
    ),
    "final_without_dates": ("final", {"date_weight": 0.0}),
    "final": ("final", {}),  # SearchOptions() as shipped: the above plus passages of 3 turns
}


def evaluate(service, questions, options, ks=(5, 10)):
    found = {k: 0 for k in ks}
    for q in questions:
        hits = service.search(q["query"], k=max(ks), options=options)
        for k in ks:
            ids = {s for h in hits[:k] for s in h.source_ids}
            q[f"found@{k}"] = all(e in ids for e in q["evidence"])
            found[k] += q[f"found@{k}"]
    return {f"recall@{k}": round(found[k] / max(1, len(questions)), 4) for k in ks}


def by_type(questions, ks=(5, 10)):
    """Recall per question type (the questions `evaluate` has marked)."""
    types = sorted({q.get("type", "plain") for q in questions})
    out = {}
    for t in types:
        qs = [q for q in questions if q.get("type", "plain") == t]
        out[t] = {f"recall@{k}": round(sum(q[f"found@{k}"] for q in qs) / len(qs), 4) for k in ks}
        out[t]["questions"] = len(qs)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dialogs", type=int, default=10)
    parser.add_argument("--pooled", action="store_true", help="all dialogs in one store")
    parser.add_argument(
        "--unique-names", action="store_true", help="no speaker name shared by two dialogs"
    )
    parser.add_argument("--hard", choices=("tune", "held"), help="harder dialogs, by type")
    args = parser.parse_args()
    os.environ["HEARTH_HOME"] = tempfile.mkdtemp(prefix="hearth-eval-")
    import torch

    torch.set_num_threads(int(os.environ.get("HEARTH_THREADS", "1")))
    from app.memory.embedder import Embedder
    from app.memory.importer import ImportSummary, records_to_memories
    from app.memory.search import SearchOptions
    from app.memory.service import MemoryService
    from app.store import Store

    embedder = Embedder()
    if args.hard:
        from memory_dialogs_hard import HELD_SEEDS, TUNE_SEEDS, hard

        dialogs = [hard(seed) for seed in (TUNE_SEEDS if args.hard == "tune" else HELD_SEEDS)]
    else:
        dialogs = [
            generate(
                seed, names=(NAMES[2 * seed], NAMES[2 * seed + 1]) if args.unique_names else None
            )
            for seed in range(args.dialogs)
        ]
    groups = [dialogs] if args.pooled else [[d] for d in dialogs]
    totals: dict[str, dict[str, float]] = {name: {} for name in DESIGNS}
    asked: dict[str, list[dict]] = {name: [] for name in DESIGNS}
    n_questions, n_turns, started = 0, 0, time.perf_counter()
    for g, group in enumerate(groups):
        services = {}
        for vectors in ("plain", "final"):
            store = Store(Path(os.environ["HEARTH_HOME"]) / f"eval-{g}-{vectors}.db")
            service = MemoryService(store, None, embedder, use_model=False)
            # Each store its own saved index: the two stores reach the same generation, and with
            # one folder the second loaded the first's vectors (its fingerprint matched).
            service.dense.folder = Path(os.environ["HEARTH_HOME"]) / f"index-{g}-{vectors}"
            if vectors == "plain":
                service.writer.embed_with_context = lambda texts, _prev: embedder.embed(texts)
                service.dense.speakers = set  # no name handling at query time
            services[vectors] = service
        questions = []
        for d_index, dialog in enumerate(group):
            # In the pooled store, ids carry the dialog so evidence stays unambiguous.
            records = [(i, {**t, "id": f"{d_index}/{t['id']}"}) for i, t in enumerate(dialog.turns)]
            for service in services.values():
                items = records_to_memories(records, f"dialog-{g}-{d_index}", ImportSummary())
                service.add_many(items)
            n_turns += len(records)
            questions += [
                {**q, "evidence": [f"{d_index}/{e}" for e in q["evidence"]]}
                for q in dialog.questions
            ]
        n_questions += len(questions)
        for name, (vectors, changes) in DESIGNS.items():
            opts = replace(SearchOptions(), **changes)
            marked = [dict(q) for q in questions]
            scores = evaluate(services[vectors], marked, opts)
            asked[name] += marked
            for key, value in scores.items():
                totals[name][key] = totals[name].get(key, 0.0) + value * len(questions)
        for service in services.values():
            service.close()
            service.store.close()
    result = {
        name: {k: round(v / n_questions, 4) for k, v in scores.items()}
        for name, scores in totals.items()
    }
    if args.hard:
        result["by_type"] = {name: by_type(qs) for name, qs in asked.items()}
    result["_setup"] = {
        "dialogs": len(dialogs),
        "turns": n_turns,
        "questions": n_questions,
        "pooled": args.pooled,
        "unique_names": args.unique_names,
        "hard": args.hard,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
