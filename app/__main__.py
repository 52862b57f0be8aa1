"""Entry point: `hearth` (or `python -m app`) opens the window; `hearth <command>` is the CLI."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    from app.memory.embedder import sequential_loading

    sequential_loading()  # the main thread, before anything loads
    if args[:1] == ["--probe-model"]:
        # A frozen app has no `python -m`: the model probe's child runs through the app itself,
        # before anything imports Qt.
        from app.llm.probe import child_main

        return child_main(args[1:])
    if args[:1] == ["--train-job"]:
        # Likewise the training process (app/adapters/train.py starts it this way when frozen).
        from app.adapters.train_job import main as train_main

        return train_main(args[1:])
    if args[:1] == ["--self-test"]:
        from app.selftest import main as self_test

        return self_test(args[1:])
    if not args:
        _private_from_the_start()
        from app.ui.app import main as gui_main

        return int(gui_main(sys.argv[:1]))
    from app.cli import main as cli_main

    return cli_main(args)


def _private_from_the_start() -> None:
    """The window opens the core (and its start-up hygiene) on a worker thread; the umask and
    the private temp folder are set here first, before Qt writes a file or starts a thread
    (the environment is changed while no other thread can read it)."""
    import contextlib

    from app import paths
    from app.privacy.hygiene import use_private_temp

    paths.set_private_umask()
    with contextlib.suppress(OSError):  # an unusable data folder is reported when the core opens
        use_private_temp()


if __name__ == "__main__":
    sys.exit(main())
