"""The exporters of ``convbench kernels``' rows: CSV (written and read back) and the rich
table. They only format.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

from convbench.core.errors import UsageError
from convbench.kernel.bench_run import Result

CSV_FIELDS = ["shape", "descriptor", "pass", "impl", "threads", "method", "repeats",
              "median_ms", "min_ms", "max_ms", "gflops", "gbs", "bound_ms", "roofline",
              "rel_err"]


# ---- exporters ---------------------------------------------------------------------------------

def as_dict(r: Result) -> dict:
    """A row as the CSV writes it (strings)."""
    return {"shape": r.shape, "descriptor": r.descriptor, "pass": r.pass_, "impl": r.impl,
            "threads": r.threads, "method": r.method, "repeats": r.repeats,
            "median_ms": f"{r.median_s * 1e3:.4f}", "min_ms": f"{r.min_s * 1e3:.4f}",
            "max_ms": f"{r.max_s * 1e3:.4f}", "gflops": f"{r.gflops:.4f}",
            "gbs": f"{r.gbs:.4f}", "bound_ms": f"{r.bound_s * 1e3:.4f}",
            "roofline": f"{r.roofline:.4f}", "rel_err": f"{r.rel_err:.3e}"}


def to_csv(rows: list[Result], path) -> Path:
    """Write the rows as CSV (CSV_FIELDS); returns the path."""
    p = Path(path)
    try:
        with open(p, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            w.writeheader()
            for r in rows:
                w.writerow(as_dict(r))
    except OSError as e:
        raise UsageError(f"cannot write --csv {str(p)!r}: {e}") from None
    return p


def read_csv(path) -> list[Result]:
    """The rows of a CSV written by to_csv (times back in seconds)."""
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        for d in csv.DictReader(f):
            out.append(Result(
                shape=d["shape"], descriptor=d["descriptor"], pass_=d["pass"], impl=d["impl"],
                threads=int(d["threads"]), method=d["method"], repeats=int(d["repeats"]),
                median_s=float(d["median_ms"]) / 1e3, min_s=float(d["min_ms"]) / 1e3,
                max_s=float(d["max_ms"]) / 1e3, gflops=float(d["gflops"]), gbs=float(d["gbs"]),
                bound_s=float(d["bound_ms"]) / 1e3, roofline=float(d["roofline"]),
                rel_err=float(d["rel_err"])))
    return out


def table(rows: list[Result], title: str = ""):
    """A rich Table of the rows: time (median, min-max), GFLOP/s, GB/s, fraction of the
    roofline bound, and the time relative to convbench at the same thread count."""
    from rich.table import Table
    caption = None
    if any(r.impl == "stream" for r in rows):
        caption = ("stream: the memory floor, the pass's input read and its output written once "
                   "with no convolution; convbench's time / stream's is how far the kernel is "
                   "from moving its bytes alone")
    t = Table(title=title or None, caption=caption)
    for name, right in [("shape", False), ("pass", False), ("impl", False), ("thr", True),
                        ("method", False), ("n", True), ("median ms", True),
                        ("min-max ms", True), ("GFLOP/s", True), ("GB/s", True),
                        ("bound ms", True), ("of bound", True), ("time / convbench", True),
                        ("rel err", True)]:
        t.add_column(name, justify="right" if right else "left")
    base = {(r.shape, r.pass_, r.threads): r.median_s for r in rows if r.impl == "convbench"}
    for r in rows:
        b = base.get((r.shape, r.pass_, r.threads)) or base.get((r.shape, r.pass_, 1))
        t.add_row(r.shape, r.pass_, r.impl, str(r.threads), r.method or "-", str(r.repeats),
                  _ms(r.median_s), f"{_ms(r.min_s)}-{_ms(r.max_s)}", f"{r.gflops:.1f}",
                  f"{r.gbs:.1f}", "-" if math.isnan(r.bound_s) else _ms(r.bound_s),
                  "-" if math.isnan(r.roofline) else f"{r.roofline:.2f}",
                  f"{r.median_s / b:.2f}x" if b else "-",
                  "-" if math.isnan(r.rel_err) else f"{r.rel_err:.0e}")
    return t


def _ms(s: float) -> str:
    ms = s * 1e3
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 1 else f"{ms:.3f}"
