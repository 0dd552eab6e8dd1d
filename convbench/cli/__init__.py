"""The ``convbench`` command: thin Typer commands over the library.

Each command parses its options into library objects, calls the library, and prints. Library
errors (ConvbenchError, and the kernel's ConvError, a subclass) become one line on stderr and an exit status:
2 for bad input found before anything ran, 1 for a failed point or run, 130 for Ctrl-C.
"""
from __future__ import annotations

import functools
import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from convbench import __version__
from convbench.core.errors import ConvbenchError, UsageError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Strong and weak MPI scaling of a C convolution layer, verified before it is reported.",
)
# a table piped into a file or a CI log keeps all its columns
out_console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)


def _fail(message: str, code: int) -> None:
    from rich.markup import escape      # a message may hold [brackets]: print them as they are
    err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def cli_errors(fn):
    """Library exceptions -> one line and an exit status, never a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ConvbenchError as e:      # the kernel's ConvError is one too
            _fail(str(e), e.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
    return wrapper


# ---- shared options ---------------------------------------------------------------------------
Procs = Annotated[str, typer.Option("--procs", "-p", help="Comma-separated rank counts, e.g. 1,2,4,8.")]
Preset = Annotated[Optional[str], typer.Option(help="Workload preset: fat, light, resnet, tiny (configs/).")]
Config = Annotated[Optional[Path], typer.Option(help="Workload TOML file (same keys as configs/*.toml); excludes --preset.")]
Pass = Annotated[str, typer.Option("--pass", help="forward | backward | train (forward + backward + Allreduce of the weight gradient).")]
Data = Annotated[str, typer.Option(help="scatter: rank 0 holds the batch and Scatterv/Gatherv it (the original experiment); local: each rank makes its own shard.")]
Repeats = Annotated[int, typer.Option(help="Timed repeats per point; the point's time is their median.")]
Warmup = Annotated[int, typer.Option(help="Untimed warm-up repeats per point.")]
Out = Annotated[Path, typer.Option(help="Directory that receives one new sub-directory per sweep.")]
Timeout = Annotated[float, typer.Option(help="Seconds a point may take before its ranks are killed and it is marked failed.")]
Hostfile = Annotated[Optional[Path], typer.Option(help="MPI hostfile (MPICH 'host:N' or Open MPI 'host slots=N').")]
Mpiexec = Annotated[Optional[str], typer.Option(help="mpiexec to use (default: $CONVBENCH_MPIEXEC, next to this Python, then PATH).")]
MpiArgs = Annotated[str, typer.Option(help="Extra arguments for mpiexec, one string, e.g. \"--bind-to core\".")]
NoVerify = Annotated[bool, typer.Option("--no-verify", help="Skip the checks against the reference (faster for huge workloads); unverified points get no speedup.")]
Force = Annotated[bool, typer.Option(help="Run even if the memory estimate exceeds the available memory.")]
FailFast = Annotated[bool, typer.Option(help="Stop the sweep at the first failed point.")]
Seed = Annotated[Optional[int], typer.Option(help="Seed of the synthetic images and weights (default: the workload's).")]
Decomp = Annotated[str, typer.Option(help="batch: images over ranks; spatial: every image's rows over ranks, halo exchanged with Sendrecv (needs --data local; scales past P = batch).")]
Backend = Annotated[str, typer.Option(help="convbench (the C kernel) | torch (torch.nn.functional.conv2d, needs PyTorch) | naive (the textbook 7-loop C).")]
Images = Annotated[Optional[Path], typer.Option(help="A directory of PNG/JPEG files: the batch is made of them (cropped/resized, cycled) instead of synthetic images.")]
Threads = Annotated[int, typer.Option(help="Threads per rank (hybrid MPI x threads).")]
Ppn = Annotated[Optional[int], typer.Option(help="Ranks per node (with --hostfile): MPICH/Intel -ppn, Open MPI --map-by ppr:N:node.")]
BindTo = Annotated[Optional[str], typer.Option("--bind-to", help="Bind ranks: core, socket, numa, none, ... (the vendor's flag; recorded in the manifest).")]
Resume = Annotated[Optional[Path], typer.Option(help="Continue the interrupted sweep in this directory with its recorded settings (other options are ignored): verified points are kept, the rest run.")]
LauncherOpt = Annotated[str, typer.Option("--launcher", help="mpiexec | slurm: srun inside a Slurm allocation; outside one, submit the sweep as one sbatch job (job.sbatch in the sweep directory; read it with 'convbench collect DIR').")]


def _parse_procs(text: str) -> tuple[int, ...]:
    from convbench.engine.sweep import parse_procs
    return parse_procs(text)


def _workload(preset: str | None, config: Path | None, default: str, batch: int | None,
              seed: int | None, batch_flag: str = "--batch"):
    from convbench.workload import spec as wl_mod
    if preset and config:
        raise UsageError("give --preset or --config, not both")
    wl = wl_mod.load_config(config) if config else wl_mod.preset(preset or default)
    if batch is not None:
        if batch < 1:
            raise UsageError(f"{batch_flag} must be >= 1, got {batch}")
        wl = wl.with_batch(batch)
    if seed is not None:
        if seed < 0:
            raise UsageError(f"--seed must be >= 0, got {seed}")
        wl = wl_mod.Workload.from_dict({**wl.to_dict(), "seed": seed})
    return wl


def _stop_on_sigterm() -> None:
    """A batch scheduler's SIGTERM (time limit, scancel) stops a sweep like Ctrl-C does: the
    running point's ranks are killed and every finished point stays saved."""
    import signal

    def handler(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)


def _resume(mode: str, path: Path) -> None:
    from convbench.engine import live as report
    from convbench.engine import sweep
    _stop_on_sigterm()
    result = sweep.resume(path, mode, report.LiveProgress(err_console),
                          argv=["convbench", *sys.argv[1:]])
    _finish(result, f"{mode} scaling (resumed)")


def _finish(result, title: str) -> None:
    from convbench.engine import live as report
    if result.job_id:       # --launcher slurm outside an allocation: a job will run the points
        out_console.print(f"submitted Slurm job {result.job_id} (script: {result.path}/job.sbatch)", highlight=False)
        out_console.print(f"results: {result.path}", highlight=False)
        out_console.print(f"when it has run: convbench collect {result.path}", highlight=False)
        return
    out_console.print(report.summary_table(result.rows, title))
    out_console.print(f"results: {result.path}")
    if result.interrupted:
        _fail(f"interrupted; the {len(result.rows)} finished point(s) are saved in {result.path} "
              f"(continue with --resume {result.path})", 130)
    if result.failed:
        _fail(f"{len(result.failed)} of {len(result.rows)} point(s) failed; logs in {result.path}/points", 1)


def _sweep(mode: str, wl, procs: tuple[int, ...], *, pass_: str, data: str, repeats: int,
           warmup: int, out: Path, timeout: float, hostfile: Path | None, mpiexec: str | None,
           mpi_args: str, no_verify: bool, force: bool, fail_fast: bool, decomp: str,
           backend: str, images: Path | None, threads: int, ppn: int | None,
           bind_to: str | None, launcher: str) -> None:
    """The sweep commands' shared options (keyword-only: the commands pass them by name) ->
    a SweepPlan, run with the live progress display, then the table and the exit status."""
    from convbench.engine import live as report
    from convbench.engine import sweep
    try:
        extra = tuple(shlex.split(mpi_args))
    except ValueError as e:
        raise UsageError(f"--mpi-args cannot be split: {e}") from None
    plan = sweep.SweepPlan(
        mode=mode, workload=wl, procs=procs, pass_=pass_, data=data, repeats=repeats,
        warmup=warmup, timeout=timeout, verify=not no_verify,
        hostfile=str(hostfile) if hostfile else None, mpiexec=mpiexec, mpi_args=extra,
        out=str(out), force=force, fail_fast=fail_fast, decomp=decomp, backend=backend,
        images=str(images) if images else None, threads=threads, ppn=ppn, bind=bind_to,
        launcher=launcher,
    )
    _stop_on_sigterm()
    result = sweep.run(plan, report.LiveProgress(err_console), argv=["convbench", *sys.argv[1:]])
    _finish(result, f"{mode} scaling: {wl.describe()}" + (" per rank" if mode == "weak" else ""))


@app.command()
@cli_errors
def strong(
    procs: Procs = "1,2,4,8",
    preset: Preset = None,
    config: Config = None,
    batch: Annotated[Optional[int], typer.Option(help="Override the workload's batch size.")] = None,
    pass_: Pass = "forward",
    data: Data = "scatter",
    repeats: Repeats = 3,
    warmup: Warmup = 1,
    out: Out = Path("results"),
    timeout: Timeout = 1200.0,
    hostfile: Hostfile = None,
    mpiexec: Mpiexec = None,
    mpi_args: MpiArgs = "",
    no_verify: NoVerify = False,
    force: Force = False,
    fail_fast: FailFast = False,
    seed: Seed = None,
    decomp: Decomp = "batch",
    backend: Backend = "convbench",
    images: Images = None,
    threads: Threads = 1,
    ppn: Ppn = None,
    bind_to: BindTo = None,
    launcher: LauncherOpt = "mpiexec",
    resume: Resume = None,
) -> None:
    """Strong scaling: the same batch at every P.

    Default: the original report's 'fat' workload (80 images of 3 x 1024 x 1024, 3x3
    convolution, about 1 GB in and out), forward pass, scatter/gather from rank 0, 3 repeats
    after 1 warm-up: about a minute on a 2-core laptop with 6 GB free.
    """
    if resume:
        return _resume("strong", resume)
    wl = _workload(preset, config, "fat", batch, seed)
    _sweep("strong", wl, _parse_procs(procs), fail_fast=fail_fast, pass_=pass_, data=data, repeats=repeats, warmup=warmup, out=out,
           timeout=timeout, hostfile=hostfile, mpiexec=mpiexec, mpi_args=mpi_args,
           no_verify=no_verify, force=force, decomp=decomp, backend=backend, images=images,
           threads=threads, ppn=ppn, bind_to=bind_to, launcher=launcher)


@app.command()
@cli_errors
def weak(
    per_rank: Annotated[int, typer.Option(help="Images per rank: P ranks get P times this batch.")] = 10000,
    procs: Procs = "1,2,4,8",
    preset: Preset = None,
    config: Config = None,
    pass_: Pass = "forward",
    data: Data = "scatter",
    repeats: Repeats = 3,
    warmup: Warmup = 1,
    out: Out = Path("results"),
    timeout: Timeout = 1200.0,
    hostfile: Hostfile = None,
    mpiexec: Mpiexec = None,
    mpi_args: MpiArgs = "",
    no_verify: NoVerify = False,
    force: Force = False,
    fail_fast: FailFast = False,
    seed: Seed = None,
    decomp: Decomp = "batch",
    backend: Backend = "convbench",
    images: Images = None,
    threads: Threads = 1,
    ppn: Ppn = None,
    bind_to: BindTo = None,
    launcher: LauncherOpt = "mpiexec",
    resume: Resume = None,
) -> None:
    """Weak scaling: --per-rank images on every rank, so P ranks get P times the work.

    Default: the original report's 'light' workload (1 x 32 x 32 images, 3x3 convolution),
    10000 images per rank, forward, scatter/gather, 3 repeats after 1 warm-up: well under a
    minute on a 2-core laptop.
    """
    if resume:
        return _resume("weak", resume)
    wl = _workload(preset, config, "light", per_rank, seed, batch_flag="--per-rank")
    _sweep("weak", wl, _parse_procs(procs), fail_fast=fail_fast, pass_=pass_, data=data, repeats=repeats, warmup=warmup, out=out,
           timeout=timeout, hostfile=hostfile, mpiexec=mpiexec, mpi_args=mpi_args,
           no_verify=no_verify, force=force, decomp=decomp, backend=backend, images=images,
           threads=threads, ppn=ppn, bind_to=bind_to, launcher=launcher)


@app.command()
@cli_errors
def run(
    n: Annotated[int, typer.Option("-n", "--procs", help="Number of ranks.")] = 1,
    preset: Preset = None,
    config: Config = None,
    batch: Annotated[Optional[int], typer.Option(help="Override the workload's batch size.")] = None,
    pass_: Pass = "forward",
    data: Data = "scatter",
    repeats: Repeats = 3,
    warmup: Warmup = 1,
    out: Out = Path("results"),
    timeout: Timeout = 1200.0,
    hostfile: Hostfile = None,
    mpiexec: Mpiexec = None,
    mpi_args: MpiArgs = "",
    no_verify: NoVerify = False,
    force: Force = False,
    seed: Seed = None,
    decomp: Decomp = "batch",
    backend: Backend = "convbench",
    images: Images = None,
    threads: Threads = 1,
    ppn: Ppn = None,
    bind_to: BindTo = None,
    launcher: LauncherOpt = "mpiexec",
    resume: Resume = None,
) -> None:
    """Measure one point: the workload on -n ranks (default workload: fat)."""
    if resume:
        return _resume("run", resume)
    wl = _workload(preset, config, "fat", batch, seed)
    _sweep("run", wl, (n,), fail_fast=False, pass_=pass_, data=data, repeats=repeats, warmup=warmup, out=out,
           timeout=timeout, hostfile=hostfile, mpiexec=mpiexec, mpi_args=mpi_args,
           no_verify=no_verify, force=force, decomp=decomp, backend=backend, images=images,
           threads=threads, ppn=ppn, bind_to=bind_to, launcher=launcher)


@app.command()
@cli_errors
def info(
    mpiexec: Mpiexec = None,
) -> None:
    """Versions, the kernel's build, and the MPI that sweeps would use."""
    from convbench.engine import environment
    from convbench.engine import probe
    env = environment.describe()
    kb = env.pop("kernel_build")
    lines = [("convbench", __version__)]
    lines += [(k, str(v)) for k, v in env.items() if k != "convbench" and v not in (None, {}, "")]
    lines += [(f"kernel {k}", str(v)) for k, v in kb.items()]
    lines += probe.mpi_facts(mpiexec)
    width = max(len(k) for k, _ in lines)
    for k, v in lines:
        out_console.print(f"{k:<{width}}  {v}", highlight=False, soft_wrap=True)


# ---- reading results back: plot, report, compare -------------------------------------------------
SweepPath = Annotated[Path, typer.Argument(help="A sweep's results directory (the one with manifest.json).", show_default=False)]
TableFormat = Annotated[str, typer.Option("--format", "-f", help="markdown | csv | json.")]


def _warn(message: str) -> None:
    from rich.markup import escape
    err_console.print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False, soft_wrap=True)


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
        _warn(line)
    for f in result.files:
        typer.echo(str(f))


@app.command()
@cli_errors
def report(
    path: SweepPath,
    fmt: TableFormat = "markdown",
) -> None:
    """The original report's table of a sweep (time, memory per rank and in total, output shape,
    speedup, efficiency, Karp-Flatt serial fraction, compute/communication, verified, status)."""
    from convbench.results import store
    from convbench.reporting import tables
    typer.echo(tables.render_report(store.load(path), tables.check_format(fmt)), nl=False)


@app.command()
@cli_errors
def compare(
    a: SweepPath,
    b: SweepPath,
    fmt: TableFormat = "markdown",
) -> None:
    """Two sweeps side by side per P: the time ratio B/A with its min-max spread, and where the
    difference is within noise (e.g. MPICH vs Open MPI, scatter vs local, before vs after)."""
    from convbench.reporting import compare as cmp_mod
    from convbench.results import store
    from convbench.reporting import tables
    tables.check_format(fmt)
    comparison = cmp_mod.compare(store.load(a), store.load(b))
    typer.echo(tables.render_compare(comparison, fmt), nl=False)
    for w in comparison.warnings:
        _warn(w)


@app.command()
@cli_errors
def apply(
    image: Annotated[Path, typer.Argument(help="A PNG or JPEG file.", show_default=False)],
    kernel: Annotated[str, typer.Option("--kernel", "-k", help="sobel (gradient magnitude) | gaussian (5x5, sigma 1) | identity | random (3x3, --seed).")] = "sobel",
    out: Annotated[Path, typer.Option(help="The figure: input and output side by side (.png, .svg, .pdf).")] = Path("apply.png"),
    size: Annotated[Optional[str], typer.Option(help="Fit the image to HxW first (center crop; scaled up when smaller), e.g. 256x256 (default: its own size).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random kernel.")] = 0,
) -> None:
    """Filter one image (in grey) with the C kernel's forward and save input and output side by side."""
    from convbench.kernel import filters
    result = filters.apply_to_file(image, kernel, out, filters.parse_size(size), seed)
    h, w = result["input"].shape
    typer.echo(f"{result['out']}  ({kernel}, {h}x{w})")


@app.command()
@cli_errors
def model(
    path: SweepPath,
    procs: Annotated[Optional[str], typer.Option("--procs", "-p", help="Comma-separated P to predict, e.g. 16,32,64 (default 1,2,4,...,1024); the measured P are always listed.")] = None,
    fit_up_to: Annotated[Optional[int], typer.Option(help="Fit only the points with P <= this (e.g. 1): the larger measured P are then predicted beside their measurement.")] = None,
    include_oversubscribed: Annotated[bool, typer.Option(help="Fit oversubscribed points too (by default they are shown, not fitted: they measure contention).")] = False,
    fmt: TableFormat = "markdown",
) -> None:
    """Fit Amdahl (strong) or Gustafson (weak) with communication = latency + bytes / bandwidth,
    and predict time, speedup and efficiency at larger P, beside the fit's residuals."""
    from convbench.reporting import stats
    from convbench.reporting import scaling as model_mod
    from convbench.results import store
    from convbench.reporting import tables
    tables.check_format(fmt)
    predict = _parse_procs(procs) if procs is not None else model_mod.DEFAULT_PROCS
    sweep = store.load(path)
    fitted = model_mod.build(sweep, predict, fit_up_to, include_oversubscribed)
    ctx = stats.sweep_context(sweep.manifest, sweep.path.name)
    typer.echo(tables.render_model(fitted, ctx, fmt), nl=False)


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
    out_console.print(escape(state + (f", exit {job.exit_code}" if job.exit_code else "")), highlight=False)
    out_console.print(escape(f"results: {c.path}"), highlight=False)
    if c.problem():
        _fail(c.problem(), 1)


# ---- the kernel alone: kernels, machine --------------------------------------------------------
@app.command()
@cli_errors
def kernels(
    shape: Annotated[str, typer.Option(help="fat (batch 8), light, resnet, another preset, or a benchdnn-style descriptor like mb32ic64ih56oc64kh3ph1 (mb ic ih, optional iw, oc kh, optional kw sh sw ph pw; iw = ih, kw = kh, stride 1, padding 0 by default); comma-separated for several.")] = "fat",
    pass_: Annotated[str, typer.Option("--pass", help="forward | backward (dx, dw, db) | forward,backward.")] = "forward",
    threads: Annotated[str, typer.Option(help="Threads of the C kernel (and torch), e.g. 1 or 1,2.")] = "1",
    compare: Annotated[str, typer.Option(help="Implementations beside convbench: naive (textbook C loops), numpy (convbench.kernel.reference), torch (when importable), stream (the memory floor: the pass's input read and output written once, no convolution); comma-separated, '' for none.")] = "naive,torch,stream",
    repeats: Annotated[int, typer.Option(help="Timed repeats, interleaved across implementations.")] = 5,
    budget: Annotated[float, typer.Option(help="Seconds of timed runs after which a slow implementation sits out the remaining repeats.")] = 30.0,
    csv: Annotated[Optional[Path], typer.Option("--csv", help="Also write the results to this CSV file.")] = None,
    roofline: Annotated[str, typer.Option(help="run: measure the peak (one-thread float32 matmul) and the bandwidth (c = a + b) in this run, just before the kernels; cached: use 'convbench machine''s cached measurement.")] = "run",
) -> None:
    """Kernel microbenchmark: time (median, min-max), GFLOP/s, GB/s and the fraction of this
    machine's roofline bound, for convbench's kernel and the others, measured in one run."""
    from convbench.kernel import bench
    bench.plan(shape, pass_, threads, compare, repeats, budget)  # validate, measure nothing
    if roofline not in ("run", "cached"):
        raise UsageError(f"--roofline must be run or cached, got {roofline!r}")
    with err_console.status("measuring the roofline (matmul peak, c = a + b bandwidth)"):
        roof = bench.roofline(roofline, threads)
    with err_console.status("measuring") as status:
        rows, notes = bench.benchmark(shape, pass_, threads, compare, repeats, budget,
                                            roof, progress=status.update)
    out_console.print(bench.table(rows, bench.roofline_title(roof)))
    for note in notes:
        _warn(note)
    if csv:
        out_console.print(f"csv: {bench.to_csv(rows, csv)}", highlight=False)


@app.command()
@cli_errors
def machine(
    refresh: Annotated[bool, typer.Option(help="Measure again even if a measurement is cached.")] = False,
    matmul_n: Annotated[int, typer.Option(help="Size n of the n x n float32 matmul that measures the single-core peak.")] = 2048,
    stream_mb: Annotated[float, typer.Option(help="MB per array of the c = a + b bandwidth measurement (far larger than the caches).")] = 256.0,
    max_cores: Annotated[Optional[int], typer.Option(help="Measure the bandwidth on 1..this many cores (default: all this process may use).")] = None,
    repeats: Annotated[int, typer.Option(help="Repeats of each measurement (the best is kept).")] = 5,
) -> None:
    """This machine's roofline: single-core float32 peak and memory bandwidth on 1..N cores,
    cached in $XDG_CACHE_HOME/convbench (or ~/.cache/convbench)."""
    from convbench.kernel import roofline as machine_mod
    with err_console.status("measuring this machine"):
        roof = machine_mod.roofline(refresh, matmul_n=matmul_n, stream_mb=stream_mb,
                                    max_cores=max_cores, repeats=repeats)
    lines = [("cpu", roof["cpu_model"]), ("cores", str(roof["cores"])),
             ("peak (1 core)", f"{roof['peak_gflops_1core']:.1f} GFLOP/s  (float32 matmul n={roof['matmul_n']}, one BLAS thread)")]
    lines += [(f"bandwidth ({k} core{'s' if k > 1 else ''})", f"{v:.1f} GB/s  (c = a + b, {roof['stream_mb']} MB arrays)")
              for k, v in sorted(roof["bandwidth_gbs_by_cores"].items())]
    lines += [("measured", roof["measured_at"]), ("cache", roof["cache_file"])]
    width = max(len(k) for k, _ in lines)
    for k, v in lines:
        out_console.print(f"{k:<{width}}  {v}", highlight=False, soft_wrap=True)


@app.callback(invoke_without_command=True)
def _root(version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False) -> None:
    if version:
        out_console.print(f"convbench {__version__}")
        raise typer.Exit(0)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
