"""The sweep commands: strong, weak and run, with the options of cli.options."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from convbench.cli.common import app, cli_errors, err_console, fail, note, out_console
from convbench.cli.options import DEFAULT_PROCS, Batch, Procs, SweepOptions, sweep_options


def _resume(mode: str, options: SweepOptions) -> None:
    from convbench.engine import live
    from convbench.engine import sweep
    from convbench.engine.resume import Launch
    plan = options.plan(mode, None, ())       # this command line's launch settings
    pl = plan.placement
    launch = Launch(launcher=pl.launcher, mpiexec=pl.mpiexec, mpi_args=pl.mpi_args,
                    hostfile=pl.hostfile)
    result = sweep.resume(options.resume, mode, live.LiveProgress(err_console),
                          argv=["convbench", *sys.argv[1:]], launch=launch, note=note,
                          started=_command_started())
    _finish(result, f"{mode} scaling (resumed)")


def _command_started() -> float:
    """time.monotonic() when this command's process started: a --budget (and the first
    look's) counts the user's whole wait, Python's start-up and imports included."""
    import time
    from convbench.core.host import process_age
    return time.monotonic() - process_age()


def _finish(result, title: str) -> None:
    from convbench.engine import live
    if result.job_id:       # --launcher slurm outside an allocation: a job will run the points
        out_console.print(f"submitted Slurm job {result.job_id} (script: {result.path}/job.sbatch)", markup=False, highlight=False)
        out_console.print(f"results: {result.path}", markup=False, highlight=False)
        out_console.print(f"when it has run: convbench collect {result.path}", markup=False, highlight=False)
        return
    from rich.markup import escape      # a workload's name or a path may hold [brackets]
    out_console.print(live.summary_table(result.rows, escape(title)))
    flagged = live.flag_lines(result.rows)
    if flagged:
        out_console.print("noise flags (the figures are kept; see README 'How sure is a figure'):",
                          markup=False, highlight=False)
        for line in flagged:
            out_console.print(f"  {line}", markup=False, highlight=False)
    budget = live.budget_line(result.rows)
    if budget:
        out_console.print(budget, markup=False, highlight=False)
    out_console.print(f"results: {result.path}", markup=False)
    if result.interrupted:
        import signal
        by = f" by {result.signal}" if result.signal and result.signal != "SIGINT" else ""
        code = 128 + int(getattr(signal, result.signal or "SIGINT", signal.SIGINT))
        fail(f"interrupted{by}; the {len(result.rows)} finished point(s) are saved in {result.path} "
             f"(continue with --resume {result.path})", code)
    if result.failed:
        fail(f"{len(result.failed)} of {len(result.rows)} point(s) failed; logs in {result.path}/points", 1)


def _sweep(mode: str, options: SweepOptions, procs: str, default: str, batch: int | None,
           batch_flag: str = "--batch") -> None:
    """--resume, or: the options -> a SweepPlan (workload: --preset/--config, else `default`),
    run with the live progress display, then the table and the exit status."""
    from convbench.engine import live
    from convbench.engine import sweep
    from convbench.engine.plan import parse_procs
    if options.resume:
        return _resume(mode, options)
    wl = options.workload(default, batch, batch_flag)
    plan = options.plan(mode, wl, parse_procs(procs))
    result = sweep.run(plan, live.LiveProgress(err_console), argv=["convbench", *sys.argv[1:]],
                       started=_command_started())
    _finish(result, f"{mode} scaling: {plan.describe()}")


@app.command()
@cli_errors
@sweep_options
def strong(procs: Procs = DEFAULT_PROCS, batch: Batch = None, *, options: SweepOptions) -> None:
    """Strong scaling: the same batch at every P.

    Default: the original report's 'fat' workload (80 images of 3 x 1024 x 1024, 3x3
    convolution, about 1 GB in and out), forward pass, scatter/gather from rank 0, 3 repeats
    after 1 warm-up: about a minute on a 2-core laptop with 6 GB free.
    """
    _sweep("strong", options, procs, "fat", batch)


@app.command()
@cli_errors
@sweep_options
def weak(
    per_rank: Annotated[int, typer.Option(help="Images per rank: P ranks get P times this batch.")] = 10000,
    procs: Procs = DEFAULT_PROCS,
    *, options: SweepOptions,
) -> None:
    """Weak scaling: --per-rank images on every rank, so P ranks get P times the work.

    Default: the original report's 'light' workload (1 x 32 x 32 images, 3x3 convolution),
    10000 images per rank, forward, scatter/gather, 3 repeats after 1 warm-up: well under a
    minute on a 2-core laptop.
    """
    _sweep("weak", options, procs, "light", per_rank, batch_flag="--per-rank")


@app.command()
@cli_errors
@sweep_options(exclude=("fail_fast",))
def run(
    n: Annotated[int, typer.Option("-n", "--procs", help="Number of ranks.")] = 1,
    batch: Batch = None,
    *, options: SweepOptions,
) -> None:
    """Measure one point: the workload on -n ranks (default workload: fat)."""
    _sweep("run", options, str(n), "fat", batch)
