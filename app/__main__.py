"""Entry point: `hearth` (or `python -m app`) opens the window; `hearth <command>` is the CLI."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--probe-model"]:
        # A frozen app has no `python -m`: the model probe's child runs through the app itself,
        # before anything imports Qt.
        from app.llm.probe import child_main

        return child_main(args[1:])
    if not args:
        from app.ui.app import main as gui_main

        return int(gui_main(sys.argv[:1]))
    from app.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
