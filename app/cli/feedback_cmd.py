"""`hearth feedback import|list|prefer|edit|delete`: the preference examples adapters are trained
on, and the preferences the user states ("keep answers short"), which apply to every answer."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app.adapters.feedback import FeedbackStore
from app.cli.common import print_json
from app.errors import HearthError
from app.store import open_store


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("feedback", help="preference examples: import, list, delete")
    sub = parser.add_subparsers(dest="feedback_command", metavar="ACTION", required=True)
    imp = sub.add_parser(
        "import",
        help='import a JSONL file of {"prompt", "response", "correction"?, "rating"?} lines',
    )
    imp.add_argument("path", type=Path)
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(func=_import)
    listing = sub.add_parser("list", help="the stored feedback")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list)
    prefer = sub.add_parser(
        "prefer", help='state a preference for every answer ("keep answers short")'
    )
    prefer.add_argument("text")
    prefer.set_defaults(func=_prefer)
    edit = sub.add_parser("edit", help="rewrite a stated preference")
    edit.add_argument("id", type=int)
    edit.add_argument("text")
    edit.set_defaults(func=_edit)
    delete = sub.add_parser("delete", help="delete one feedback item (or --all)")
    delete.add_argument("id", type=int, nargs="?")
    delete.add_argument("--all", action="store_true")
    delete.set_defaults(func=_delete)


def _import(args: argparse.Namespace) -> int:
    if not args.path.is_file():
        raise HearthError(f"{args.path}: no such file")
    with open_store() as store:
        feedback = FeedbackStore(store)
        count = feedback.import_jsonl(args.path)
        total = feedback.count()
    if args.json:
        print_json({"imported": count, "total": total})
    else:
        print(f"imported {count} examples ({total} feedback items in all)")
    return 0


def _list(args: argparse.Namespace) -> int:
    with open_store() as store:
        items = FeedbackStore(store).list()
    for item in items:
        if args.json:
            print_json(item.to_dict())
            continue
        if item.kind == "statement":
            print(f"{item.id:4}  statement  {item.statement}")
            continue
        mark = {1: "+1", -1: "-1"}.get(item.rating or 0, "  ")
        what = "edit" if item.correction else "rating"
        print(f"{item.id:4}  {what:9} {mark}  {_short(item.prompt)}")
    return 0


def _prefer(args: argparse.Namespace) -> int:
    with open_store() as store:
        feedback_id = FeedbackStore(store).add_statement(args.text)
    print(f"preference {feedback_id} stored; it applies from the next answer on")
    return 0


def _edit(args: argparse.Namespace) -> int:
    with open_store() as store:
        FeedbackStore(store).update_statement(args.id, args.text)
    print(f"preference {args.id} changed")
    return 0


def _delete(args: argparse.Namespace) -> int:
    with open_store() as store:
        feedback = FeedbackStore(store)
        if args.all:
            print(f"deleted {feedback.delete_all()} feedback items")
            return 0
        if args.id is None:
            raise HearthError("give a feedback id, or --all")
        if not feedback.delete(args.id):
            raise HearthError(f"no feedback with id {args.id}")
        print(f"deleted feedback {args.id}")
    return 0


def _short(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
