"""Single-thread kernel speed: convbench's C kernel beside the textbook 7-loop C algorithm.

    python benchmarks/kernel_bench.py                 # `make bench`: fat (batch 8) and light
    python benchmarks/kernel_bench.py --fat-batch 80  # the full fat workload (about 10x longer)
    python benchmarks/kernel_bench.py --quick         # smaller batches, a quick look
    python benchmarks/kernel_bench.py --json out.json --csv out.csv

Workloads (as in configs/): "fat" = x (N, 3, 1024, 1024), w (3, 3, 3, 3), N = 80 in the full
workload (8 here by default, to keep `make bench` short); "light" = x (160000, 1, 32, 32),
w (1, 1, 3, 3), the full batch. Stride 1, no padding.

Forward: convbench and the naive kernel on identical data, repeats interleaved (naive fewer
times: it is slow), median and min-max reported. Backward (input + weight gradients) has no
naive counterpart in C: its GFLOP/s is reported, and its speedup is against the naive forward
(half its FLOPs). FLOPs: 2 * N * C_out * OH * OW * C_in * KH * KW for forward, twice that
for backward.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time

import numpy as np

from convbench import kernel

WORKLOADS = {
    # name: (x shape without batch, w shape)
    "fat": ((3, 1024, 1024), (3, 3, 3, 3)),
    "light": ((1, 32, 32), (1, 1, 3, 3)),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fat-batch", type=int, default=8,
                   help="fat batch size (default 8; the full fat workload is 80)")
    p.add_argument("--light-batch", type=int, default=160000,
                   help="light batch size (default: the full 160000)")
    p.add_argument("--quick", action="store_true",
                   help="small batches (fat 2, light 16000) and 3 repeats")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats of the convbench kernel")
    p.add_argument("--naive-repeats", type=int, default=2, help="timed repeats of the naive kernel")
    p.add_argument("--no-naive", action="store_true", help="skip the naive kernel")
    p.add_argument("--only", choices=sorted(WORKLOADS), action="append",
                   help="run only this workload (repeatable)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--csv", metavar="PATH", help="also write the results as CSV")
    args = p.parse_args(argv)
    if args.quick:
        args.fat_batch, args.light_batch = min(args.fat_batch, 2), min(args.light_batch, 16000)
        args.repeats, args.naive_repeats = min(args.repeats, 3), min(args.naive_repeats, 1)
    for name in ("fat_batch", "light_batch", "repeats", "naive_repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def stats(name, pass_, impl, times, flops, base=None):
    """One result row (plain data; the printers only format it)."""
    med = statistics.median(times)
    return {
        "workload": name, "pass": pass_, "impl": impl, "repeats": len(times),
        "median_ms": med * 1e3, "min_ms": min(times) * 1e3, "max_ms": max(times) * 1e3,
        "gflops": flops / med / 1e9,
        "speedup": (base / med) if base else None,
    }


def bench_workload(name, batch, args, rng):
    xs, ws = WORKLOADS[name]
    x = rng.standard_normal((batch,) + xs, dtype=np.float32)
    w = rng.standard_normal(ws, dtype=np.float32)
    b = rng.standard_normal(ws[0], dtype=np.float32)
    y_shape = kernel.output_shape(x.shape, w.shape)
    _, k, oh, ow = y_shape
    flops = 2.0 * batch * k * oh * ow * ws[1] * ws[2] * ws[3]
    y = np.empty(y_shape, np.float32)
    y_naive = np.empty(y_shape, np.float32)
    dy = rng.standard_normal(y_shape, dtype=np.float32)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty(ws[0], np.float32)

    # warm-up (touches every output page) and a correctness check of both kernels
    kernel.forward(x, w, b, out=y)
    kernel.backward(x, w, dy, dx=dx, dw=dw, db=db)
    fwd, naive = [], []
    for r in range(args.repeats):
        fwd.append(timed(lambda: kernel.forward(x, w, b, out=y)))
        if not args.no_naive and r < args.naive_repeats:
            naive.append(timed(lambda: kernel.forward_naive(x, w, b, out=y_naive)))
    if naive:
        err = float(np.max(np.abs(y - y_naive))) / max(float(np.max(np.abs(y_naive))), 1e-30)
        if not err <= 1e-4:
            raise SystemExit(f"{name}: convbench and naive forward differ (relative {err:.1e})")
    bwd = [timed(lambda: kernel.backward(x, w, dy, dx=dx, dw=dw, db=db))
           for _ in range(args.repeats)]

    rows = []
    base = statistics.median(naive) if naive else None
    if naive:
        rows.append(stats(name, "forward", "naive 7-loop C", naive, flops, base))
    rows.append(stats(name, "forward", "convbench", fwd, flops, base))
    # backward speedup: against the naive forward scaled to the same FLOPs
    rows.append(stats(name, "backward", "convbench", bwd, 2 * flops, 2 * base if base else None))
    for r in rows:
        r["batch"] = batch
        r["shape"] = f"x {tuple(x.shape)} w {tuple(w.shape)}"
    del x, y, y_naive, dy, dx
    return rows


def print_rows(rows, info):
    title = (f"convbench kernel, single thread ({info.get('compiler', '?')}; "
             f"{info.get('flags', '?')}; {info.get('isa', '?')})")
    headers = ["workload", "batch", "pass", "kernel", "median ms", "min-max ms", "GFLOP/s",
               "speedup"]
    table = [[r["workload"], str(r["batch"]), r["pass"], r["impl"], f"{r['median_ms']:.1f}",
              f"{r['min_ms']:.1f}-{r['max_ms']:.1f}", f"{r['gflops']:.2f}",
              f"{r['speedup']:.1f}x" if r["speedup"] else "-"] for r in rows]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(title)
        widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
        print("  ".join(h.ljust(wd) for h, wd in zip(headers, widths)))
        for row in table:
            print("  ".join(c.ljust(wd) for c, wd in zip(row, widths)))
    else:
        t = Table(title=title)
        for i, h in enumerate(headers):
            t.add_column(h, justify="right" if i in (1, 4, 5, 6, 7) else "left")
        for row in table:
            t.add_row(*row)
        console = Console()
        if console.width < 110:  # a pipe or a narrow terminal: don't squeeze the numbers
            console = Console(width=110)
        console.print(t)
    print("speedup: against the naive forward (for backward: scaled to the backward's FLOPs)")


def main(argv=None) -> int:
    args = parse_args(argv)
    rng = np.random.default_rng(2024)
    info = kernel.build_info()
    rows = []
    batches = {"fat": args.fat_batch, "light": args.light_batch}
    for name in args.only or list(WORKLOADS):
        print(f"running {name} (batch {batches[name]}) ...", file=sys.stderr, flush=True)
        rows += bench_workload(name, batches[name], args, rng)
    print_rows(rows, info)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"build": info, "results": rows}, f, indent=2)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            wr = csv.DictWriter(f, fieldnames=list(rows[0]))
            wr.writeheader()
            wr.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
