"""`hearth conversations list|search|export`: the stored conversations, found and written out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.atomic import write_text
from app.cli.common import print_json
from app.conversation_search import export, hit_json, search
from app.conversations import Conversations
from app.errors import HearthError
from app.store import open_store


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("conversations", help="list, search or export conversations")
    sub = parser.add_subparsers(dest="conversations_command", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="every conversation, the latest first")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list)
    find = sub.add_parser("search", help="messages holding all these words")
    find.add_argument("query")
    find.add_argument("--limit", type=int, default=20)
    find.add_argument("--json", action="store_true")
    find.set_defaults(func=_search)
    out = sub.add_parser("export", help="one conversation as Markdown or JSON")
    out.add_argument("id", type=int)
    out.add_argument("--format", choices=["md", "json"], default="md")
    out.add_argument("--output", "-o", type=Path, help="write to this file (default: stdout)")
    out.set_defaults(func=_export)


def _list(args: argparse.Namespace) -> int:
    with open_store() as store:
        for conv in Conversations(store).list():
            if args.json:
                print_json({"id": conv.id, "title": conv.title, "updated_at": conv.updated_at})
            else:
                print(f"{conv.id:5}  {conv.updated_at[:16].replace('T', ' ')}  {conv.title}")
    return 0


def _search(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise HearthError("--limit must be at least 1")
    with open_store() as store:
        hits = search(store, args.query, limit=args.limit)
    for hit in hits:
        if args.json:
            print_json(hit_json(hit))
        else:
            print(f"{hit.conversation_id:5}  {hit.conversation_title}  [{hit.role}]")
            print(f"       {hit.snippet_marked('[', ']')}")
    if not hits and not args.json:
        print("no messages found", file=sys.stderr)
    return 0


def _export(args: argparse.Namespace) -> int:
    with open_store() as store:
        text = export(Conversations(store), args.id, args.format)
    if args.output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        try:
            write_text(args.output, text)
        except OSError as exc:
            raise HearthError(f"cannot write {args.output}: {exc.strerror or exc}") from exc
        print(f"wrote {args.output}")
    return 0
