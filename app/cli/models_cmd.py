"""`hearth models list|add|use|remove`: the GGUF models Hearth knows, and which one it runs.

The list shows what the Settings dialog shows (size, architecture, quantization and context
length read from each file's own header), from the same `model_choices`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app.cli.common import print_json
from app.llm.models import ModelManager
from app.settings.model_choices import ModelChoice, choices, remove
from app.store import open_store


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("models", help="list, add, choose or remove models")
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
    forget = sub.add_parser(
        "remove", help="take a model off the list (id, name or path); its file is kept"
    )
    forget.add_argument("ref")
    forget.set_defaults(func=_remove)


def _list(args: argparse.Namespace) -> int:
    with open_store() as store:
        found = choices(store)
    for model in found:
        if args.json:
            print_json(
                {
                    "id": model.id,
                    "name": model.name,
                    "architecture": model.architecture,
                    "quantization": model.quantization,
                    "context_length": model.context_length,
                    "size_mb": model.size_mb,
                    "path": model.path,
                    "active": model.active,
                    "readable": model.readable,
                }
            )
        else:
            print(_line(model))
    return 0


def _line(model: ModelChoice) -> str:
    mark = "*" if model.active else " "
    context = f"{model.context_length:,} context" if model.context_length else "context ?"
    facts = [
        model.architecture or "?",
        model.quantization or "?",
        context,
        f"{model.size_mb:,.1f} MB",
    ]
    unreadable = "" if model.readable else "  (the file cannot be read)"
    return f"{mark} {model.id:3}  {model.name}  ({', '.join(facts)})  {model.path}{unreadable}"


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


def _remove(args: argparse.Namespace) -> int:
    with open_store() as store:
        model = ModelManager(store).get(args.ref)
        remove(store, model.id)  # refuses the model in use, with the reason
    print(f"removed {model.name} from the list (the file {model.path} is kept)")
    return 0
