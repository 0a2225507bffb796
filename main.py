"""Atelier's composition root: parses the command line, builds the services once, runs a command or the window."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from services.app import Services, setup_logging, tune_memory

    tune_memory()
    window_args = [a for a in argv if not a.startswith("-psn_")]  # macOS Finder adds a process serial number
    if window_args not in ([], ["--self-test"]):
        # Any other argument is a command, or bad input that the command line refuses (exit 2) with a sentence:
        # never a window opening by surprise.
        from services import cli

        services = Services.create()
        setup_logging(services.paths)
        return cli.run(argv, services)
    from ui.app import run_window

    # The window prepares Qt's image plugins itself, after its first paint.
    return run_window(Services.create(prepare_qt=False), self_test="--self-test" in argv)


if __name__ == "__main__":
    if getattr(sys, "frozen", False):  # the bundle: a child process (the window's import) runs its target, not this
        import multiprocessing  # not imported otherwise: ~15 ms before the first paint, and a run from source has
        # no use for it (its child processes start with `python -c "from multiprocessing.spawn import ..."`)

        multiprocessing.freeze_support()
    sys.exit(main())
