"""Reading results back: plot, report, compare, model, collect."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from convbench.core.errors import UsageError

from convbench.cli.common import (SweepPath, TableFormat, app, cli_errors, fail, out_console,
                                  warn)


@app.command()
@cli_errors
def plot(
    path: Annotated[Path, typer.Argument(help="A sweep directory, or a directory of sweeps.", show_default=False)],
    out: Annotated[Optional[Path], typer.Option(help="Directory for the figures (default: figures/ inside each sweep; with several sweeps, one sub-directory per sweep).")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="png | svg | pdf.")] = "png",
    overlay: Annotated[bool, typer.Option(help="Also draw the scaling figures of sweeps of the same mode and workload on shared axes.")] = False,
    dpi: Annotated[int, typer.Option(help="Resolution of PNG figures (dots per inch).")] = 100,
) -> None:
    """Figures of a sweep: time, speedup and efficiency vs P (strong, weak), phases and memory per rank."""
    from convbench.reporting import figures as plots
    result = plots.plot(path, out, fmt, overlay, dpi)
    for line in result.skipped:
        warn(line)
    for f in result.files:
        typer.echo(str(f))


#: report's and model's PATH: a sweep, a directory of sweeps, or results/
SweepsPath = Annotated[Optional[Path], typer.Argument(
    help="A sweep's results directory, or a directory of sweeps (every sweep in it, oldest "
         "first) [default: results]", show_default=False)]


def _each_sweep(path: Optional[Path]):
    """The sweeps PATH names (warning about the unreadable ones)."""
    from convbench.reporting import sweeps
    found, skipped = sweeps.find(path)
    for line in skipped:
        warn(line)
    return found


@app.command()
@cli_errors
def report(
    path: SweepsPath = None,
    fmt: TableFormat = "markdown",
) -> None:
    """The original report's table of a sweep (time, memory per rank and in total, output shape,
    speedup, efficiency, Karp-Flatt serial fraction, compute/communication, verified, status),
    and where each point's wall time went."""
    from convbench.reporting import tables
    tables.check_format(fmt)
    found = _each_sweep(path)
    rendered = [(s.path.name, tables.render_report(s, fmt)) for s in found]
    _print_tables(tables, rendered, fmt, found)



def _print_tables(tables, rendered: list, fmt: str, found: list) -> None:
    """The rendered tables of every sweep, then each sweep's warnings (cells read as missing)."""
    typer.echo(tables.render_many(rendered, fmt), nl=False)
    for sweep in found:
        for w in sweep.warnings:
            warn(w)

@app.command()
@cli_errors
def compare(
    a: SweepPath,
    b: SweepPath,
    threshold: Annotated[float, typer.Option(help="Percent: the smallest difference of B/A from 1 that counts as faster or slower.")] = 5.0,
    fmt: TableFormat = "markdown",
) -> None:
    """Two sweeps side by side per P: B/A with its 95% interval (a bootstrap over launches), a
    Mann-Whitney test over the launch times, and a verdict: faster, slower, no detectable
    difference or too few samples (e.g. MPICH vs Open MPI, scatter vs local, before vs after)."""
    from convbench.reporting import compare as cmp_mod
    from convbench.results import store
    from convbench.reporting import tables
    tables.check_format(fmt)
    cmp_mod.check_threshold(threshold / 100)
    sa, sb = store.load(a), store.load(b)
    comparison = cmp_mod.compare(sa, sb, threshold / 100)
    typer.echo(tables.render_compare(comparison, fmt), nl=False)
    for w in [*sa.warnings, *sb.warnings, *comparison.warnings]:
        warn(w)


@app.command()
@cli_errors
def model(
    path: SweepsPath = None,
    procs: Annotated[Optional[str], typer.Option("--procs", "-p", help="Comma-separated P to predict, e.g. 16,32,64 (default 1,2,4,...,1024); the measured P are always listed.")] = None,
    fit_up_to: Annotated[Optional[int], typer.Option(help="Fit only the points with P <= this (e.g. 1): the larger measured P are then predicted beside their measurement.")] = None,
    include_oversubscribed: Annotated[bool, typer.Option(help="Fit oversubscribed points too (by default they are shown, not fitted: they measure contention).")] = False,
    network: Annotated[Optional[str], typer.Option(help="measured: the latency and bandwidth 'convbench machine' measured (MPI ping-pong, recorded in the manifest) | fit: fitted to the sweep's communication times. Default: measured when the manifest has it, else fit.")] = None,
    fmt: TableFormat = "markdown",
) -> None:
    """Fit Amdahl (strong) or Gustafson (weak) with communication = latency + bytes / bandwidth
    (fitted, or the measured network's), and predict time, speedup and efficiency at larger P,
    beside the fit's residuals; 95% intervals of the parameters and predictions by refitting on
    bootstrap replicates of the launches (5 rounds at least); the notes say which network it
    used."""
    from convbench.engine.plan import parse_procs
    from convbench.reporting import stats
    from convbench.reporting import scaling as model_mod
    from convbench.reporting import scaling_table, tables
    tables.check_format(fmt)
    predict = parse_procs(procs) if procs is not None else model_mod.DEFAULT_PROCS
    rendered, found = [], _each_sweep(path)
    for sweep in found:
        try:
            fitted = model_mod.build(sweep, predict, fit_up_to, include_oversubscribed, network)
        except UsageError as e:
            if len(found) == 1:
                raise
            warn(f"skipped {sweep.path.name}: {e}")     # e.g. a single-point run in the folder
            continue
        ctx = stats.sweep_context(sweep.manifest, sweep.path.name)
        rendered.append((sweep.path.name, scaling_table.render_model(fitted, ctx, fmt)))
    if not rendered:
        fail(f"no sweep in {path or 'results'} can be modelled (see the lines above)", 2)
    _print_tables(tables, rendered, fmt, found)


@app.command()
@cli_errors
def collect(path: SweepPath) -> None:
    """How a sweep submitted with --launcher slurm stands; once its job has ended, its table.
    Exit status: 0 every point verified, 1 the job or a point failed, 2 not a submitted sweep,
    75 still pending or running (try again later)."""
    from rich.markup import escape
    from convbench.engine import live as report
    from convbench.engine import slurm
    c = slurm.collect(path)
    job = c.job
    state = f"job {job.job_id}: {job.state}" + (f" ({job.reason})" if job.reason else "")
    if not c.finished:
        out_console.print(escape(f"{state}; {len(c.rows)} of {c.points} point(s) measured so far; "
                                 f"results: {c.path}"), highlight=False)
        raise typer.Exit(75)
    if c.rows:
        out_console.print(report.summary_table(c.rows, c.title))
        for line in report.flag_lines(c.rows):
            out_console.print(f"  {line}", markup=False, highlight=False)
    out_console.print(escape(state + (f", exit {job.exit_code}" if job.exit_code else "")), highlight=False)
    out_console.print(escape(f"results: {c.path}"), highlight=False)
    if c.problem():
        fail(c.problem(), 1)
