"""Does what the user told Hearth reach the answer? Facts are told in chat as a user would (one
fresh conversation each, through the real Assistant, the real default model, the real memory),
then asked about in fresh conversations, greedy. Beside it the same questions with nothing told
(`base_rate`) and with the fact in the same message as the question (`oracle_rate`: what the
model can do with the fact in view). Prints one JSON object; the headline figures are the held-
apart half of `memory_answers_facts.json` (the other half, `tune`, is what changes were tried on).

Every fact of both halves is told, so each question is recalled among all the other memories.
Usage: .venv/bin/python tests/benchmarks/memory_answers.py [--split held|tune|all]
       [--limit N] [--home DIR (reuse the told memories of an earlier run)] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
FACTS = Path(__file__).resolve().parent / "memory_answers_facts.json"


def load_facts() -> list[dict]:
    return json.loads(FACTS.read_text(encoding="utf-8"))["facts"]


def telling(fact: dict, index: int) -> str:
    """The facts are told in their different phrasings in turn, so every phrasing is used."""
    return fact["tell"][index % len(fact["tell"])]


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def answered(reply: str, answers: list[str]) -> bool:
    """Any accepted answer as whole words (case and accents ignored)."""
    folded = _fold(reply)
    return any(re.search(rf"(?<!\w){re.escape(_fold(a))}", folded) for a in answers)


def reply_of(assistant, conversations, text: str) -> tuple[str, list]:
    from app.assistant import Done, Failed, Recalled

    conv = conversations.create()
    recalled: list = []
    for event in assistant.send(conv, text):
        if isinstance(event, Recalled):
            recalled = event.memories
        elif isinstance(event, Failed):
            raise SystemExit(f"error: {event.message}")
        elif isinstance(event, Done):
            pass
    assistant.wait_idle(timeout=300)
    return conversations.messages(conv)[-1].content, recalled


def rates(rows: list[dict]) -> dict:
    n = len(rows)
    out: dict = {"facts": n}
    for key in ("told", "oracle", "base", "stored", "recalled"):
        have = [r[key] for r in rows if key in r]
        if have:
            out[f"{key}_rate"] = round(sum(have) / len(have), 4)
    if out.get("oracle_rate"):
        out["told_vs_oracle"] = round(out["told_rate"] / out["oracle_rate"], 4)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", choices=("held", "tune", "all"), default="all")
    parser.add_argument("--limit", type=int, default=0, help="first N facts of each split")
    parser.add_argument("--home", help="a folder kept between runs; told once, then reused")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--skip", default="", help="comma list of base,oracle to leave out")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    home = Path(args.home or tempfile.mkdtemp(prefix="hearth-answers-"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["HEARTH_HOME"] = str(home)
    threads = int(os.environ.get("HEARTH_THREADS", "1"))
    import torch

    torch.set_num_threads(threads)
    from app.assistant import Assistant
    from app.conversations import Conversations
    from app.llm.engine import Engine
    from app.llm.models import packaged_default_model
    from app.memory.embedder import Embedder
    from app.memory.service import MemoryService
    from app.settings import Settings
    from app.store import open_store

    started = time.perf_counter()
    facts = load_facts()
    chosen = [f for f in facts if args.split in ("all", f["split"])]
    if args.limit:
        chosen = [
            f
            for s in ("tune", "held")
            for f in [c for c in chosen if c["split"] == s][: args.limit]
        ]
    engine = Engine(n_threads=threads, n_ctx=2048)
    engine.load(packaged_default_model()).result()
    store = open_store()
    memory = MemoryService(store, engine, Embedder(threads=threads))
    memory.embedder.embed(["warm up"])  # measured once loaded (start-up recall is full text)
    settings = Settings(temperature=0.0, max_tokens=args.max_tokens)
    assistant = Assistant(store, engine, memory=memory, settings=settings)
    plain = Assistant(store, engine, memory=None, settings=settings)
    conversations = Conversations(store)
    skip = set(filter(None, args.skip.split(",")))

    if memory.count() == 0:  # tell everything, both halves: the rest are distractors
        for i, fact in enumerate(facts):
            reply_of(assistant, conversations, telling(fact, i))
    memories = [m.text for m in memory.memories()]
    rows = []
    for fact in chosen:
        i = facts.index(fact)
        told = telling(fact, i)
        row: dict = {"id": fact["id"], "split": fact["split"], "topic": fact["topic"]}
        row["stored"] = any(answered(m, fact["answer"]) for m in memories)
        reply, recalled = reply_of(assistant, conversations, fact["ask"])
        row["told"] = answered(reply, fact["answer"])
        row["recalled"] = any(answered(m.text, fact["answer"]) for m in recalled)
        if args.verbose:
            row["reply"] = reply[:160]
            row["block"] = [m.text for m in recalled]
        if "oracle" not in skip:
            reply, _ = reply_of(plain, conversations, f"{told} {fact['ask']}")
            row["oracle"] = answered(reply, fact["answer"])
            if args.verbose:
                row["oracle_reply"] = reply[:160]
        if "base" not in skip:
            reply, _ = reply_of(plain, conversations, fact["ask"])
            row["base"] = answered(reply, fact["answer"])
        rows.append(row)
        if args.verbose:
            print(json.dumps(row, ensure_ascii=False), file=sys.stderr)
    splits = {s: rates([r for r in rows if r["split"] == s]) for s in ("held", "tune")}
    head = splits["held"] if splits["held"]["facts"] else splits["tune"]
    result = {
        **{k: v for k, v in head.items() if k != "facts"},
        "headline_split": "held" if splits["held"]["facts"] else "tune",
        "splits": splits,
        "by_topic": {
            t: rates([r for r in rows if r["topic"] == t])
            for t in sorted({r["topic"] for r in rows})
        },
        "missed": [r["id"] for r in rows if not r["told"]],
        "memories": len(memories),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result))
    memory.close()
    engine.close()
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
