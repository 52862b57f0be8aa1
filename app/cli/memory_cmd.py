"""`hearth memory ...`: add, list, forget, import and search memories, and the one line of what
Hearth knows about you, from the command line.

Only the embedder is loaded (never the chat model); `--json` prints one JSON object per line.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from app.errors import HearthError

PROGRESS_EVERY_S = 5.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("memory", help="what Hearth remembers")
    sub = parser.add_subparsers(dest="memory_command", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="remember a sentence")
    add.add_argument("text", nargs="+")
    add.add_argument("--kind", default="fact", choices=["fact", "preference", "note", "event"])
    add.add_argument("--pin", action="store_true")
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=cmd_add)

    lst = sub.add_parser("list", help="every memory, newest first")
    lst.add_argument("--kind", choices=["fact", "preference", "note", "event"])
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_list)

    forget = sub.add_parser("forget", help="delete a memory for good")
    forget.add_argument("id", type=int)
    forget.add_argument("--json", action="store_true")
    forget.set_defaults(func=cmd_forget)

    imp = sub.add_parser("import", help="import JSONL records, or .txt/.md notes and folders")
    imp.add_argument("paths", nargs="+", type=Path)
    imp.set_defaults(func=cmd_import)

    about = sub.add_parser("about", help="what Hearth knows about you, in one line")
    about.add_argument("text", nargs="*", help="your own line instead (kept, pinned)")
    about.add_argument("--json", action="store_true")
    about.set_defaults(func=cmd_about)

    search = sub.add_parser("search", help="hybrid search over memories")
    search.add_argument("query", nargs="*")
    search.add_argument("--batch", type=Path, help='JSONL file of {"query": ...} lines')
    search.add_argument("--k", type=int, default=10)
    search.add_argument("--json", action="store_true")
    search.set_defaults(func=cmd_search)


def _memory() -> tuple[Any, Any]:
    from app.cli.common import open_core

    core = open_core(load_model=False)
    return core, core.memory


def cmd_add(args: argparse.Namespace) -> int:
    from app.cli.common import print_json

    core, memory = _memory()
    try:
        change = memory.add(" ".join(args.text), args.kind, pinned=args.pin)
    finally:
        core.close()
    if args.json:
        print_json({"id": change.memory_id, "action": change.action, "text": change.text})
    else:
        print(f"{change.action} memory {change.memory_id}: {change.text}")
    return 0


def cmd_about(args: argparse.Namespace) -> int:
    """Print the one-line summary; with text, keep the user's correction of it first."""
    from app.cli.common import print_json

    core, memory = _memory()
    try:
        if args.text:
            memory.correct_summary(" ".join(args.text))
        line = memory.summary()
    finally:
        core.close()
    if args.json:
        print_json({"about": line})
    else:
        print(line or "Nothing yet.")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from app.cli.common import print_json

    core, memory = _memory()
    try:
        memories = memory.memories(kind=args.kind)
    finally:
        core.close()
    for mem in memories:
        if args.json:
            print_json(mem.to_json())
        else:
            pin = "*" if mem.pinned else " "
            print(f"{mem.id:>6} {pin} [{mem.kind}] {mem.text}")
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    from app.cli.common import print_json

    core, memory = _memory()
    try:
        if not memory.forget(args.id):
            raise HearthError(f"there is no memory {args.id}")
    finally:
        core.close()
    if args.json:
        print_json({"forgot": args.id})
    else:
        print(f"forgot memory {args.id}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from app.cli.common import print_json, read_jsonl
    from app.memory import importer

    summary = importer.ImportSummary()
    jsonl = [p for p in args.paths if p.suffix.lower() == ".jsonl"]
    notes = [p for p in args.paths if p.suffix.lower() != ".jsonl"]
    streams: list[Iterable[Any]] = []
    total = 0
    for path in jsonl:  # read once whole (a bad line stops it here), then again as it imports
        total += importer.count_records(read_jsonl(path))
        batch = f"import:{path.name}:{time.time():.6f}"
        streams.append(importer.records_to_memories(read_jsonl(path), batch, summary))
    if notes:
        chunks = importer.notes_to_memories(importer.note_files(notes), summary)
        total += len(chunks)
        streams.append(chunks)
    core, memory = _memory()
    try:
        items = itertools.chain.from_iterable(streams)
        importer.run_import(memory, items, summary, progress=_progress(), total=total)
    except KeyboardInterrupt:
        print("import interrupted: nothing was imported", file=sys.stderr)
        return 130
    finally:
        core.close()
    print_json(summary.to_json())
    return 0


def _progress() -> Callable[[int, int], None]:
    """Progress on stderr (stdout keeps the result): each tenth of the way, and every few
    seconds of a long import, with the time left."""
    started = time.monotonic()
    shown = {"tenth": -1, "at": started}

    def show(done: int, total: int) -> None:
        now, tenth = time.monotonic(), done * 10 // max(total, 1)
        if tenth == shown["tenth"] and now - shown["at"] < PROGRESS_EVERY_S:
            return
        shown.update(tenth=tenth, at=now)
        left = (now - started) / done * (total - done)
        eta = f", about {_duration(left)} left" if done < total else ""
        print(f"imported {done}/{total} memories{eta}", file=sys.stderr, flush=True)

    return show


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(round(seconds), 1)} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def cmd_search(args: argparse.Namespace) -> int:
    from app.cli.common import print_json, read_jsonl

    if args.k < 1:
        raise HearthError("--k must be at least 1")
    if args.batch is not None:
        queries = []
        for line, obj in read_jsonl(args.batch):
            if not isinstance(obj.get("query"), str):
                raise HearthError(f'{args.batch}:{line}: needs a "query" string')
            queries.append(obj["query"])
    elif args.query:
        queries = [" ".join(args.query)]
    else:
        raise HearthError("give a QUERY or --batch FILE.jsonl")
    core, memory = _memory()  # loaded once for every query
    try:
        for query in queries:
            hits = memory.search(query, k=args.k)
            if args.json:
                print_json({"query": query, "hits": [h.to_json() for h in hits]})
            else:
                print(f"# {query}")
                for hit in hits:
                    print(f"{hit.id:>6}  {hit.score:.4f}  {hit.text}")
    finally:
        core.close()
    return 0
