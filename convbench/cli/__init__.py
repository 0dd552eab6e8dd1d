"""The ``convbench`` command: thin Typer commands over the library.

Each command parses its options into library objects, calls the library, and prints. The app
and the error handling are in :mod:`convbench.cli.common`; the commands in :mod:`.sweeps`
(strong, weak, run), :mod:`.results` (plot, report, compare, model, collect) and :mod:`.tools`
(info, kernels, machine, apply); the sweep commands' shared options in :mod:`.options`.
"""
from __future__ import annotations

from typing import Annotated

import typer

from convbench import __version__
from convbench.cli.common import app, out_console
from convbench.cli import sweeps, tools, results  # noqa: F401  (they register their commands)

__all__ = ["app", "main"]


@app.callback(invoke_without_command=True)
def _root(version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False) -> None:
    if version:
        out_console.print(f"convbench {__version__}")
        raise typer.Exit(0)


def main() -> None:
    """The command line: SIGHUP, SIGTERM, SIGINT and SIGQUIT stop any command the same way (a
    sweep kills its running point's processes and saves what it finished; the exit status is
    128 + the signal's number: engine.reaper)."""
    from convbench.engine import reaper
    reaper.stop_on_signals()
    app()


if __name__ == "__main__":
    main()
