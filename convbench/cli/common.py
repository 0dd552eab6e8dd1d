"""The Typer app every command module registers on, its consoles, and how errors end a command.

Library errors (ConvbenchError, and the kernel's ConvError, a subclass) become one line on stderr
and an exit status: 2 for bad input found before anything ran, 1 for a failed point or run,
130 for Ctrl-C.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from convbench.core.errors import ConvbenchError
from convbench.core.text import visible  # noqa: F401  (messages quote names: escaped)

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Strong and weak MPI scaling of a C convolution layer, verified before it is reported.",
)
# a table piped into a file or a CI log keeps all its columns
# emoji codes (":smile:") in a path or a workload's name are printed as they are, everywhere
out_console = Console(width=None if sys.stdout.isatty() else 160, emoji=False)
err_console = Console(stderr=True, emoji=False)

# options and arguments more than one command module uses
Mpiexec = Annotated[Optional[str], typer.Option(help="mpiexec to use (default: $CONVBENCH_MPIEXEC, next to this Python, then PATH).")]
SweepPath = Annotated[Path, typer.Argument(help="A sweep's results directory (the one with manifest.json).", show_default=False)]
TableFormat = Annotated[str, typer.Option("--format", "-f", help="markdown | csv | json.")]


def fail(message: str, code: int) -> None:
    from rich.markup import escape      # a message may hold [brackets]: print them as they are
    err_console.print(f"[red]error:[/red] {escape(visible(message))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    from rich.markup import escape
    err_console.print(f"[yellow]warning:[/yellow] {escape(visible(message))}", highlight=False, soft_wrap=True)


def note(message: str) -> None:
    """One line of information on stderr, printed as it is (no markup, no emoji codes)."""
    err_console.print(f"note: {visible(message)}", markup=False, emoji=False, highlight=False,
                      soft_wrap=True)


def cli_errors(fn):
    """Library exceptions -> one line and an exit status, never a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ConvbenchError as e:      # the kernel's ConvError is one too
            fail(str(e), e.exit_code)
        except KeyboardInterrupt as e:    # Ctrl-C, or a signal (engine.reaper.Interrupted)
            signum = getattr(e, "signum", 2)
            fail("interrupted" + (f" by {e}" if signum != 2 else ""), 128 + signum)
    return wrapper


def print_facts(lines: list[tuple[str, str]]) -> None:
    """'key  value' lines, the keys padded to one width."""
    width = max(len(k) for k, _ in lines)
    for k, v in lines:
        out_console.print(f"{k:<{width}}  {v}", markup=False, highlight=False, soft_wrap=True)
