"""`hearth models list|add|use`: the GGUF models Hearth knows, and which one it runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app.cli.common import print_json
from app.llm.models import ModelManager
from app.store import open_store


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("models", help="list, add or choose models")
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="the models Hearth knows")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list)
    add = sub.add_parser("add", help="add a GGUF model file you own")
    add.add_argument("path", type=Path)
    add.add_argument("--use", action="store_true", help="also make it the active model")
    add.set_defaults(func=_add)
    use = sub.add_parser("use", help="make a model the active one (id, name or path)")
    use.add_argument("ref")
    use.set_defaults(func=_use)


def _list(args: argparse.Namespace) -> int:
    with open_store() as store:
        manager = ModelManager(store)
        active = manager.active()
        for model in manager.list():
            row = {
                "id": model.id,
                "name": model.name,
                "architecture": model.architecture,
                "size_mb": round(model.size_bytes / 1e6, 1),
                "path": str(model.path),
                "active": model.id == active.id,
            }
            if args.json:
                print_json(row)
            else:
                mark = "*" if row["active"] else " "
                print(
                    f"{mark} {model.id:3}  {model.name}  ({model.architecture}, "
                    f"{row['size_mb']} MB)  {model.path}"
                )
    return 0


def _add(args: argparse.Namespace) -> int:
    with open_store() as store:
        manager = ModelManager(store)
        model = manager.add(args.path)
        print(f"added model {model.id}: {model.name} ({model.architecture})")
        if args.use:
            manager.use(model.id)
            print(f"now using {model.name}")
    return 0


def _use(args: argparse.Namespace) -> int:
    with open_store() as store:
        manager = ModelManager(store)
        ref = args.ref
        if ref.endswith(".gguf"):
            ref = str(manager.add(Path(ref)).id)
        model = manager.use(ref)
        print(f"now using {model.name}")
    return 0
