"""`hearth settings get|set`: read and change the settings the window's Settings dialog shows.

A value is checked before it is saved: an invalid one is refused with the reason, and the file
is left as it was.
"""

from __future__ import annotations

import argparse
from typing import Any

from app.cli.common import print_json
from app.settings import load_settings, save_settings
from app.settings.fields import as_dict, field, parse


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("settings", help="show or change settings")
    sub = parser.add_subparsers(dest="settings_command", metavar="ACTION", required=True)
    get = sub.add_parser("get", help="every setting, or the one named")
    get.add_argument("name", nargs="?", help="e.g. temperature, top-p, context-tokens, theme")
    get.add_argument("--json", action="store_true")
    get.set_defaults(func=_get)
    put = sub.add_parser("set", help="change a setting (checked before it is saved)")
    put.add_argument("name")
    put.add_argument("value")
    put.set_defaults(func=_set)


def _get(args: argparse.Namespace) -> int:
    settings = load_settings()
    values = as_dict(settings)
    if args.name:
        name = field(args.name).name
        values = {name: values[name]}
    if args.json:
        print_json(
            {**values, "schema_version": settings.schema_version} if not args.name else values
        )
        return 0
    for name, value in values.items():
        shown = value if not isinstance(value, bool) else ("on" if value else "off")
        print(f"{name.replace('_', '-'):16} {shown}" if not args.name else shown)
    return 0


def _set(args: argparse.Namespace) -> int:
    spec = field(args.name)
    value = parse(args.name, args.value)
    settings = load_settings()
    setattr(settings, spec.name, value)
    save_settings(settings)
    print(f"{spec.name.replace('_', '-')} = {value}")
    return 0
