"""Atelier's composition root: parses the command line, builds the services once, runs a command or the window."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from services.app import Services, setup_logging, tune_memory

    tune_memory()
    services = Services.create()
    commands = {"generate", "history", "models", "key", "rebuild", "spend", "budget", "refine", "thread"}
    if argv and argv[0] in commands or any(a in ("-h", "--help") for a in argv[:1]):
        from services import cli

        setup_logging(services.paths)
        return cli.run(argv, services)
    from ui.app import run_window

    return run_window(services, self_test="--self-test" in argv)


if __name__ == "__main__":
    sys.exit(main())
