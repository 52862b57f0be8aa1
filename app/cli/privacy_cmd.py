"""`hearth privacy report|export|delete|wipe|retention`: what Hearth holds, and real deletion."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.cli.common import print_json
from app.errors import HearthError
from app.store import open_store


def register(subparsers: Any) -> None:
    from app.privacy.controls import DEPENDS, WIPE_CONFIRMATION

    parser = subparsers.add_parser(
        "privacy", help="what Hearth holds, where; export, delete, wipe, retention"
    )
    sub = parser.add_subparsers(dest="privacy_command", metavar="ACTION", required=True)
    report = sub.add_parser("report", help="every category: paths, size, count, dates")
    report.add_argument("--json", action="store_true")
    report.set_defaults(func=_report)
    export = sub.add_parser("export", help="everything into one zip (a file or a folder)")
    export.add_argument("path", type=Path)
    export.add_argument("--json", action="store_true")
    export.set_defaults(func=_export)
    delete = sub.add_parser("delete", help="delete one category: " + ", ".join(DEPENDS))
    delete.add_argument("category", metavar="CATEGORY")
    delete.add_argument(
        "--remove-memories",
        action="store_true",
        help="with conversations: also remove the memories drawn from them",
    )
    delete.add_argument("--yes", action="store_true", help="do not ask")
    delete.set_defaults(func=_delete)
    wipe = sub.add_parser("wipe", help="delete everything Hearth holds")
    wipe.add_argument(
        "--yes", action="store_true", help=f'do not ask to type "{WIPE_CONFIRMATION}"'
    )
    wipe.set_defaults(func=_wipe)
    keep = sub.add_parser("retention", help="show, set or apply the retention rules")
    keep.add_argument("--conversation-days", type=int, help="delete conversations older (0: off)")
    keep.add_argument("--memory-days", type=int, help="forget memories unused this long (0: off)")
    keep.add_argument("--apply", action="store_true", help="apply the rules now")
    keep.set_defaults(func=_retention)


def _report(args: argparse.Namespace) -> int:
    from app import paths
    from app.privacy import encryption, inventory, network

    found = inventory.build()
    proof = network.proof()
    disk = encryption.status(paths.data_dir())
    if args.json:
        print_json({**found.to_dict(), "network": proof.to_dict(), "encryption": disk.to_dict()})
        return 0
    for cat in found.categories:
        dates = f"  {cat.oldest[:10]} .. {cat.newest[:10]}" if cat.oldest and cat.newest else ""
        size = inventory.human_size(cat.size_bytes)
        print(f"{cat.title:46} {size:>10} {cat.count:>7} {cat.unit}{dates}")
    print(f"{'Total':46} {inventory.human_size(found.total_bytes):>10}")
    print(proof.summary)
    print(f"disk encryption: {disk.state} ({disk.detail})")
    if disk.advice:
        print(disk.advice)
    for path in found.unclaimed:
        print(f"unexpected file: {path}", file=sys.stderr)
    return 0


def _export(args: argparse.Namespace) -> int:
    from app.privacy.export import export_all

    with open_store() as store:
        result = export_all(store, args.path, progress=None if args.json else _progress("exported"))
    if args.json:
        print_json({"path": str(result.path), "counts": result.counts, "bytes": result.size_bytes})
    else:
        print(f"exported {result.entries} entries to {result.path}")
    return 0


def _progress(verb: str) -> Any:
    """Progress on stderr (stdout keeps the result): about every tenth of the way."""
    shown = [-1]

    def show(done: int, total: int, what: str) -> None:
        tenth = done * 10 // max(total, 1)
        if tenth > shown[0]:
            shown[0] = tenth
            print(f"{verb} {done}/{total}: {what}", file=sys.stderr, flush=True)

    return show


def _ask(prompt: str, expected: str) -> None:
    if not sys.stdin.isatty():
        raise HearthError("not confirmed (no terminal to ask in); add --yes to go ahead")
    answer = input(prompt)
    if answer.strip().lower() != expected:
        raise HearthError("not confirmed; nothing was deleted")


def _delete(args: argparse.Namespace) -> int:
    from app.privacy.controls import DEPENDS, delete_category

    if args.category not in DEPENDS:
        raise HearthError(f"no category {args.category!r}; choose one of: {', '.join(DEPENDS)}")
    if not args.yes:
        print(DEPENDS[args.category])
        _ask(f"Delete {args.category}? Type yes: ", "yes")
    with open_store() as store:
        done = delete_category(store, args.category, keep_memories=not args.remove_memories)
    print(f"deleted {args.category}: {done.rows} rows, {done.files} files")
    for note in done.notes:
        print(note)
    return 0


def _wipe(args: argparse.Namespace) -> int:
    from app.privacy.controls import WIPE_CONFIRMATION, wipe

    confirmation = WIPE_CONFIRMATION
    if not args.yes:
        print("This deletes every conversation, memory, feedback example, adapter, model copy,")
        print("setting, log and export Hearth holds. It cannot be undone.")
        _ask(f'Type "{WIPE_CONFIRMATION}" to go on: ', WIPE_CONFIRMATION)
    with open_store() as store:
        results = wipe(store, confirmation, progress=_progress("wiping"))
    print(f"wiped: {sum(r.rows for r in results)} rows, {sum(r.files for r in results)} files")
    return 0


def _retention(args: argparse.Namespace) -> int:
    from app.privacy import retention

    rules = retention.load_rules()
    if args.conversation_days is not None or args.memory_days is not None:
        rules = retention.Rules(
            rules.conversation_days if args.conversation_days is None else args.conversation_days,
            rules.memory_unused_days if args.memory_days is None else args.memory_days,
        )
        retention.save_rules(rules)
        rules = retention.load_rules()
    conv = f"{rules.conversation_days} days" if rules.conversation_days else "for ever"
    mem = f"{rules.memory_unused_days} days unused" if rules.memory_unused_days else "for ever"
    print(f"conversations are kept {conv}; memories are kept {mem}")
    if args.apply:
        with open_store() as store:
            applied = retention.apply(store, rules)
        print(f"deleted {applied.conversations} conversations, {applied.memories} memories")
    return 0
