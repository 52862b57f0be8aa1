"""The command line: thin commands over the same core the window uses.

Each command module exposes `register(subparsers)`; a user-caused error ends in one clear line
on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sqlite3
import sys

from app.errors import HearthError, broken_install

COMMANDS = [
    "chat_cmd",
    "conversations_cmd",
    "settings_cmd",
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
        # Every listed command is part of the install: a failed import is a broken install,
        # and `main` says which module is missing instead of hiding the command.
        importlib.import_module(f"app.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    from app.privacy import guard

    guard.install()  # offline flags and the network guard before any ML import
    try:
        parser = build_parser()
    except ImportError as exc:
        print(f"error: {broken_install(exc)}", file=sys.stderr)
        return 2
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
    except ImportError as exc:
        print(f"error: {broken_install(exc)}", file=sys.stderr)
        return 2
    except sqlite3.Error as exc:  # outside a transaction (a read): still the user's message
        from app.store.database import describe

        print(f"error: the database could not be read: {describe(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk or a read-only folder while writing a file
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
