"""Kernel speed (`make bench`): convbench's C kernel beside the textbook 7-loop C algorithm
and the memory floor (the same bytes moved with no convolution).

    python benchmarks/kernel_bench.py                 # `make bench`: fat (batch 8) and light
    python benchmarks/kernel_bench.py --fat-batch 80  # the full fat workload (about 10x longer)
    python benchmarks/kernel_bench.py --quick         # smaller batches, a quick look
    python benchmarks/kernel_bench.py --threads 1,2 --compare naive,torch --csv out.csv

A thin wrapper of convbench.kernel.bench (what `convbench kernels` runs): forward and backward
(dx, dw, db) of "fat" (x (N, 3, 1024, 1024), w (3, 3, 3, 3); N = 8 here, 80 in the full
workload) and "light" (x (160000, 1, 32, 32), w (1, 1, 3, 3)), stride 1, no padding; every
implementation on the same data, repeats interleaved; median, min-max, GFLOP/s and the fraction
of this machine's roofline bound, its peak (one-thread float32 matmul) and bandwidth
(c = a + b) measured in the same run just before the kernels (`--cached-roofline`: the
`convbench machine` cache instead).
"""
from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from convbench import kernel
from convbench.kernel import bench as kernelbench
from convbench.reporting import kernel_table
from convbench.core.errors import ConvbenchError


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fat-batch", type=int, default=8,
                   help="fat batch size (default 8; the full fat workload is 80)")
    p.add_argument("--light-batch", type=int, default=160000,
                   help="light batch size (default: the full 160000)")
    p.add_argument("--quick", action="store_true",
                   help="small batches (fat 2, light 16000) and 3 repeats")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats (interleaved)")
    p.add_argument("--threads", default="1", help="threads of the C kernel, e.g. 1 or 1,2")
    p.add_argument("--compare", default="naive,stream",
                   help="implementations beside convbench: naive, numpy, torch, stream (the "
                        "memory floor) ('' for none)")
    p.add_argument("--no-naive", action="store_true", help="skip the naive kernel")
    p.add_argument("--only", choices=["fat", "light"], action="append",
                   help="run only this workload (repeatable)")
    p.add_argument("--cached-roofline", action="store_true",
                   help="use `convbench machine`'s cached roofline instead of measuring the peak "
                        "and the bandwidth in this run")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--csv", metavar="PATH", help="also write the results as CSV")
    args = p.parse_args(argv)
    if args.quick:
        args.fat_batch, args.light_batch = min(args.fat_batch, 2), min(args.light_batch, 16000)
        args.repeats = min(args.repeats, 3)
    for name in ("fat_batch", "light_batch", "repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.no_naive:
        args.compare = ",".join(c for c in args.compare.split(",") if c.strip() != "naive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    batches = {"fat": args.fat_batch, "light": args.light_batch}
    try:
        if not args.cached_roofline:
            print("measuring the roofline (matmul peak, c = a + b bandwidth) ...", file=sys.stderr,
                  flush=True)
        roof = kernelbench.roofline("cached" if args.cached_roofline else "run", args.threads)
        rows = []
        for name in args.only or ["fat", "light"]:
            wl = kernelbench.parse_shape(name).with_batch(batches[name])
            label = f"{name}{batches[name]}" if name == "fat" else name
            for pass_ in ("forward", "backward"):
                print(f"running {label} {pass_} ...", file=sys.stderr, flush=True)
                rows += kernelbench.run(
                    wl, pass_, impls=kernelbench.parse_compare(args.compare),
                    threads=kernelbench.parse_threads(args.threads), repeats=args.repeats,
                    roof=roof, shape_name=label)
    except ConvbenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    info = kernel.build_info()
    title = (f"convbench kernel ({info.get('compiler', '?')}; {info.get('flags', '?')}; "
             f"{info.get('isa', '?')})\n{kernelbench.roofline_title(roof)}")
    console = Console()
    if console.width < 150:  # a pipe or a narrow terminal: don't squeeze the numbers
        console = Console(width=150)
    console.print(kernel_table.table(rows, title))
    if args.csv:
        kernel_table.to_csv(rows, args.csv)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"build": info, "roofline": {k: v for k, v in roof.items()},
                       "results": [kernel_table.as_dict(r) for r in rows]}, f, indent=2,
                      default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
