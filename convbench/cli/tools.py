"""The installation and the kernel alone: info, kernels, machine, apply."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from convbench import __version__
from convbench.cli.common import (Mpiexec, app, cli_errors, err_console, out_console,
                                  print_facts, warn)
from convbench.core.errors import UsageError


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
    print_facts(lines)


@app.command()
@cli_errors
def kernels(
    shape: Annotated[str, typer.Option(help="fat (batch 8), light, resnet, another preset, or a benchdnn-style descriptor like mb32ic64ih56oc64kh3ph1 (mb ic ih, optional iw, oc kh, optional kw sh sw ph pw; iw = ih, kw = kh, stride 1, padding 0 by default); comma-separated for several.")] = "fat",
    pass_: Annotated[str, typer.Option("--pass", help="forward | backward (dx, dw, db) | forward,backward.")] = "forward",
    threads: Annotated[str, typer.Option(help="Threads of the C kernel (and torch), e.g. 1 or 1,2.")] = "1",
    compare: Annotated[str, typer.Option(help="Implementations beside convbench: naive (textbook C loops), numpy (convbench.kernel.reference), torch (when importable), stream (the memory floor: the pass's input read and output written once, no convolution); comma-separated, '' for none.")] = "naive,torch,stream",
    repeats: Annotated[int, typer.Option(help="Timed repeats, interleaved across implementations (a ratio's 95% interval needs 5; more repeats, narrower intervals).")] = 5,
    budget: Annotated[float, typer.Option(help="Seconds of timed runs after which a slow implementation sits out the remaining repeats.")] = 30.0,
    csv: Annotated[Optional[Path], typer.Option("--csv", help="Also write the results to this CSV file.")] = None,
    roofline: Annotated[str, typer.Option(help="run: measure the peak (one-thread float32 matmul) and the bandwidth (c = a + b) in this run, just before the kernels; cached: use 'convbench machine''s cached measurement.")] = "run",
) -> None:
    """Kernel microbenchmark: time (median, min-max), GFLOP/s, GB/s, the fraction of this
    machine's roofline bound, the time against convbench's and the speedup over 1 thread, for
    convbench's kernel and the others, measured in one run; each ratio with its 95% interval
    from the interleaved repeats (5 at least)."""
    from rich.console import Console
    from convbench.kernel import bench
    from convbench.reporting import kernel_table
    bench.plan(shape, pass_, threads, compare, repeats, budget)  # validate, measure nothing
    if roofline not in ("run", "cached"):
        raise UsageError(f"--roofline must be run or cached, got {roofline!r}")
    with err_console.status("measuring the roofline (matmul peak, c = a + b bandwidth)"):
        roof = bench.roofline(roofline, threads)
    with err_console.status("measuring") as status:
        rows, notes = bench.benchmark(shape, pass_, threads, compare, repeats, budget,
                                            roof, progress=status.update)
    wide = out_console if out_console.is_terminal else Console(width=200, emoji=False)
    wide.print(kernel_table.table(rows, bench.roofline_title(roof)))  # piped: a ratio a line
    for note in notes:
        warn(note)
    if csv:
        out_console.print(f"csv: {kernel_table.to_csv(rows, csv)}", markup=False, highlight=False)


@app.command()
@cli_errors
def machine(
    refresh: Annotated[bool, typer.Option(help="Measure again even if a measurement is cached.")] = False,
    matmul_n: Annotated[int, typer.Option(help="Size n of the n x n float32 matmul that measures the single-core peak.")] = 2048,
    stream_mb: Annotated[float, typer.Option(help="MB per array of the c = a + b bandwidth measurement (far larger than the caches).")] = 256.0,
    max_cores: Annotated[Optional[int], typer.Option(help="Measure the bandwidth on 1..this many cores (default: all this process may use).")] = None,
    repeats: Annotated[int, typer.Option(help="Repeats of each measurement (the best is kept; the ping-pong keeps the median).")] = 5,
    network: Annotated[bool, typer.Option(help="Also measure the network: an MPI ping-pong between 2 ranks on this host, 8 B to 64 MiB (latency, bandwidth).")] = True,
    hostfile: Annotated[Optional[Path], typer.Option(help="Also measure between the first two hosts of this MPI hostfile (one rank on each).")] = None,
    launcher: Annotated[str, typer.Option("--launcher", help="mpiexec | slurm: measure between two nodes of the current Slurm allocation (srun).")] = "mpiexec",
    mpiexec: Mpiexec = None,
) -> None:
    """This machine's roofline: single-core float32 peak and memory bandwidth on 1..N cores,
    and the network (MPI ping-pong latency and bandwidth within this host, and between two
    hosts with --hostfile or --launcher slurm), cached in $XDG_CACHE_HOME/convbench (or
    ~/.cache/convbench); sweeps record them in their manifest."""
    from convbench.kernel import roofline as machine_mod
    if launcher not in ("mpiexec", "slurm"):
        raise UsageError(f"--launcher must be mpiexec or slurm, got {launcher!r}")
    between = bool(hostfile) or launcher == "slurm"
    with err_console.status("measuring this machine"):
        roof = machine_mod.roofline(refresh, matmul_n=matmul_n, stream_mb=stream_mb,
                                    max_cores=max_cores, repeats=repeats)
    lines = [("cpu", roof["cpu_model"]), ("cores", str(roof["cores"])),
             ("peak (1 core)", f"{roof['peak_gflops_1core']:.1f} GFLOP/s  (float32 matmul n={roof['matmul_n']}, one BLAS thread)")]
    lines += [(f"bandwidth ({k} core{'s' if k > 1 else ''})", f"{v:.1f} GB/s  (c = a + b, {roof['stream_mb']} MB arrays)")
              for k, v in sorted(roof["bandwidth_gbs_by_cores"].items())]
    lines += [("measured", roof["measured_at"]), ("cache", roof["cache_file"])]
    print_facts(lines)
    if not (network or between):
        return
    from convbench.core.errors import ConvbenchError
    from convbench.engine import network as net
    links = ([dict()] if network else []) + ([dict(hostfile=str(hostfile) if hostfile else None,
                                                   use_slurm=launcher == "slurm")] if between else [])
    for link in links:
        what = "between two hosts" if link else "within this host"
        try:
            with err_console.status(f"measuring the network {what} (MPI ping-pong)"):
                rec = net.network(refresh=refresh, mpiexec=mpiexec, repeats=repeats, **link)
        except ConvbenchError as e:
            if link:
                raise
            warn(f"the network within this host was not measured: {e}")
            continue
        out_console.print("")
        print_facts(_network_lines(rec))


def _network_lines(rec: dict) -> list[tuple[str, str]]:
    """A link's record as 'key value' lines: latency, bandwidth, then every size."""
    h = rec["hosts"]
    where = f"within host {h[0]}" if rec["link"] == "within" else f"between {h[0]} and {h[1]}"
    lines = [("network", f"{where}  (MPI ping-pong, {rec['launcher']}, median of {rec['repeats']})"),
             ("latency", f"{rec['latency_s'] * 1e6:.2f} us  (one way, the least of the messages up to 1 KiB)"),
             ("bandwidth", f"{rec['bandwidth_bps'] / 1e9:.2f} GB/s  (the plateau: median of the sizes from 8 MiB on)")]
    for n, t, bw in zip(rec["sizes"], rec["one_way_s"], rec["bandwidth_by_size_bps"]):
        size = f"{n} B" if n < 1024 else f"{n / 1024:g} KiB" if n < 2 ** 20 else f"{n / 2 ** 20:g} MiB"
        lines.append((f"  {size}", f"{t * 1e6:10.2f} us  {bw / 1e9:7.3f} GB/s"))
    lines.append(("measured", rec["measured_at"]))
    return lines


@app.command()
@cli_errors
def apply(
    image: Annotated[Path, typer.Argument(help="A PNG or JPEG file.", show_default=False)],
    kernel: Annotated[str, typer.Option("--kernel", "-k", help="sobel (gradient magnitude) | gaussian (5x5, sigma 1) | identity | random (3x3, --seed).")] = "sobel",
    out: Annotated[Path, typer.Option(help="The figure: input and output side by side (.png, .svg, .pdf).")] = Path("apply.png"),
    size: Annotated[Optional[str], typer.Option(help="Fit the image to HxW first (center crop; scaled up when smaller), e.g. 256x256 (default: its own size).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random kernel.")] = 0,
    force: Annotated[bool, typer.Option(help="Overwrite --out if it exists (never the input image).")] = False,
) -> None:
    """Filter one image (in grey) with the C kernel's forward and save input and output side by side."""
    from convbench.kernel import filters
    result = filters.apply_to_file(image, kernel, out, filters.parse_size(size), seed,
                                   force=force)
    h, w = result["input"].shape
    typer.echo(f"{result['out']}  ({kernel}, {h}x{w})")
