"""Kernel microbenchmark: convbench's C kernel beside other implementations, in one run.

Pure functions the CLI (``convbench kernels``) and ``benchmarks/kernel_bench.py`` call, all
importable from here (they plan and measure; the ratios' 95% intervals and the exporters, CSV
and table, are a layer up: reporting/kernel_ratios.py and reporting/kernel_table.py):

- bench_plan.py, :func:`parse_shape` and :func:`plan`: a preset name (``fat`` = batch 8 of the
  fat workload, ``light``, ``resnet``, any other preset) or a benchdnn-style descriptor
  ``mb32ic64ih56oc64kh3ph1`` -> a :class:`~convbench.workload.spec.Workload` (so FLOPs, bytes
  and the roofline bound come from convbench.workload.cost); everything validated first.
- bench_run.py, :func:`run`: every implementation measured on the same data with interleaved
  repeats; returns :class:`Result` rows (plain data).
- here: :func:`benchmark` (every shape and pass of a plan) and the roofline it is set against.

Implementations: ``convbench`` (always; the C kernel with ``threads``), ``naive`` (the textbook
C loops: conv_forward_naive, conv_backward_naive; one thread), ``numpy`` (convbench.kernel.reference,
float64; BLAS threads as configured), ``torch`` (when importable; torch.set_num_threads(T),
forward conv2d, backward aten.convolution_backward for dx, dw, db), ``stream`` (the memory
floor, kernel.stream: the pass's input read and its output written once with no convolution,
at each thread count; no error is computed for it). The roofline's bandwidth is that of
``c = a + b``; a pass that reads one array and writes another (the write-allocate read
included) may not reach it, and ``stream`` shows what such a pass reaches on this machine.
"""
from __future__ import annotations

from convbench.core.errors import UsageError
from convbench.kernel.bench_plan import (FAT_BATCH, IMPLS, PASSES, describe, parse_compare,
                                         parse_shape, parse_threads, plan, torch_available)
from convbench.kernel.bench_run import Result, run

__all__ = ["IMPLS", "PASSES", "FAT_BATCH", "parse_shape", "parse_compare", "parse_threads",
           "Result", "run", "plan", "benchmark", "describe", "roofline", "roofline_title",
           "torch_available"]


def benchmark(shapes: str, passes: str = "forward", threads: str = "1",
              compare: str = "naive,torch,stream", repeats: int = 5, budget_s: float = 30.0,
              roof: dict | None = None, progress=None) -> tuple[list[Result], list[str]]:
    """What ``convbench kernels`` runs: comma-separated shapes and passes, every combination;
    returns (rows, notes). Everything is validated (:func:`plan`) before anything is measured."""
    wls, ps, ts, impls, notes = plan(shapes, passes, threads, compare, repeats, budget_s)
    rows: list[Result] = []
    for name, wl in wls:
        for p in ps:
            if progress:
                progress(f"{name} {p}")
            rows += run(wl, p, impls=impls, threads=ts, repeats=repeats, budget_s=budget_s,
                        roof=roof, shape_name=name,
                        progress=(lambda m, n=name, p=p: progress(f"{n} {p}: {m}"))
                        if progress else None)
    return rows, notes


def roofline(mode: str = "run", threads: str = "1") -> dict:
    """The roofline for a kernels run. "run": measured now, in this run (the peak, and the
    bandwidth on 1..max(threads) cores), marked as such; "cached": `convbench machine`'s."""
    from convbench.kernel import roofline as machine
    if mode == "cached":
        return machine.roofline()
    if mode != "run":
        raise UsageError(f"--roofline must be run or cached, got {mode!r}")
    roof = machine.measure(max_cores=max(parse_threads(threads)))
    roof["source"] = "this run"
    return roof


def roofline_title(roof: dict | None) -> str:
    if not roof:
        return "no roofline"
    bw = ", ".join(f"{k} core{'s' if k > 1 else ''} {v:.1f}"
                   for k, v in sorted(roof["bandwidth_gbs_by_cores"].items()))
    when = ("measured in this run" if roof.get("source") == "this run"
            else f"measured {roof.get('measured_at', '?')}")
    return (f"roofline: peak {roof['peak_gflops_1core']:.1f} GFLOP/s a core, bandwidth "
            f"{bw} GB/s ({roof.get('cpu_model', '?')}, {when})")
