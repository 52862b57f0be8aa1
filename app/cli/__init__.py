"""The command line: thin commands over the same core the window uses.

Each command module exposes `register(subparsers)`; a user-caused error ends in one clear line
on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from app.errors import HearthError

COMMANDS = [
    "chat_cmd",
    "models_cmd",
    "doctor_cmd",
    "memory_cmd",
    "feedback_cmd",
    "adapters_cmd",
    "engines_cmd",
    "privacy_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hearth",
        description="Hearth: a personal assistant that lives on your computer. "
        "Without a command, opens the window.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"app.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"app.cli.{name}":
                continue  # a command not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    from app.privacy import guard

    guard.install()  # offline flags and the network guard before any ML import
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except HearthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
