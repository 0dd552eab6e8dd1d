"""The exporters of ``convbench kernels``' rows (kernel/bench.py measures them): CSV (written
and read back) and the rich table. They only format: the ratios and their 95% intervals come
from kernel_ratios.py.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

from convbench.core.errors import UsageError
from convbench.kernel.bench_run import Result
from convbench.reporting.kernel_ratios import Ratio, RowRatios, ratios

CSV_FIELDS = ["shape", "descriptor", "pass", "impl", "threads", "method", "repeats",
              "median_ms", "min_ms", "max_ms", "gflops", "gbs", "bound_ms", "roofline",
              "rel_err", "times_ms", "roofline_lo", "roofline_hi", "vs_convbench",
              "vs_convbench_lo", "vs_convbench_hi", "vs_1thread", "vs_1thread_lo",
              "vs_1thread_hi", "ci_note"]


# ---- exporters ---------------------------------------------------------------------------------

def as_dict(r: Result, rr: RowRatios | None = None) -> dict:
    """A row as the CSV writes it (strings); rr: its ratios (kernel_ratios.ratios), for their
    intervals (without: those columns are empty)."""
    d = {"shape": r.shape, "descriptor": r.descriptor, "pass": r.pass_, "impl": r.impl,
         "threads": r.threads, "method": r.method, "repeats": r.repeats,
         "median_ms": f"{r.median_s * 1e3:.4f}", "min_ms": f"{r.min_s * 1e3:.4f}",
         "max_ms": f"{r.max_s * 1e3:.4f}", "gflops": f"{r.gflops:.4f}",
         "gbs": f"{r.gbs:.4f}", "bound_ms": f"{r.bound_s * 1e3:.4f}",
         "roofline": f"{r.roofline:.4f}", "rel_err": f"{r.rel_err:.3e}",
         "times_ms": " ".join(f"{t * 1e3:.6g}" for t in r.times_s)}
    if rr is not None:
        d.update(roofline_lo=_num(rr.of_bound.lo), roofline_hi=_num(rr.of_bound.hi),
                 vs_convbench=_num(rr.vs_convbench.value),
                 vs_convbench_lo=_num(rr.vs_convbench.lo),
                 vs_convbench_hi=_num(rr.vs_convbench.hi),
                 vs_1thread=_num(rr.vs_one_thread.value),
                 vs_1thread_lo=_num(rr.vs_one_thread.lo),
                 vs_1thread_hi=_num(rr.vs_one_thread.hi),
                 ci_note="; ".join(dict.fromkeys(
                     f"{what}: {x.note}" for what, x in (("of bound", rr.of_bound),
                                                         ("time / convbench", rr.vs_convbench),
                                                         ("vs 1 thread", rr.vs_one_thread))
                     if x.note)))
    return d


def _num(v: float) -> str:
    return "" if math.isnan(v) else f"{v:.4f}"


def to_csv(rows: list[Result], path) -> Path:
    """Write the rows as CSV (CSV_FIELDS); returns the path."""
    p = Path(path)
    try:
        with open(p, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            w.writeheader()
            for r, rr in zip(rows, ratios(rows)):
                w.writerow(as_dict(r, rr))
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
                rel_err=float(d["rel_err"]),
                times_s=tuple(float(t) / 1e3 for t in (d.get("times_ms") or "").split())))
    return out


CAPTION = ("of bound: the roofline bound / the median time (1 is at the bound); time / "
           "convbench: the median / convbench's at the same threads; vs 1 thr: the median at "
           "1 thread / at these threads. Under each ratio [lo, hi]: its 95% interval from the "
           "interleaved repeats (paired by position, bootstrap of the ratio of medians).")
STREAM_NOTE = ("stream: the memory floor, the pass's input read and its output written once "
               "with no convolution; its time / convbench's is how near the kernel comes to "
               "moving its bytes alone.")


def table(rows: list[Result], title: str = ""):
    """A rich Table of the rows: time (median, min-max), GFLOP/s, GB/s, and the ratios with
    their 95% intervals: fraction of the roofline bound, time relative to convbench at the
    same thread count, speedup over the same implementation at 1 thread."""
    from rich.markup import escape
    from rich.table import Table
    caption = CAPTION + (" " + STREAM_NOTE if any(r.impl == "stream" for r in rows) else "")
    t = Table(title=title or None, caption=escape(caption))
    for name, right in [("shape", False), ("pass", False), ("impl", False), ("thr", True),
                        ("method", False), ("n", True), ("median ms", True),
                        ("min-max ms", True), ("GFLOP/s", True), ("GB/s", True),
                        ("bound ms", True), ("of bound", True), ("time / convbench", True),
                        ("vs 1 thr", True), ("rel err", True)]:
        t.add_column(name, justify="right" if right else "left")
    for r, rr in zip(rows, ratios(rows)):
        t.add_row(r.shape, r.pass_, r.impl, str(r.threads), r.method or "-", str(r.repeats),
                  _ms(r.median_s), f"{_ms(r.min_s)}-{_ms(r.max_s)}", f"{r.gflops:.1f}",
                  f"{r.gbs:.1f}", "-" if math.isnan(r.bound_s) else _ms(r.bound_s),
                  *(escape(c) for c in (ratio_text(rr.of_bound),
                                        ratio_text(rr.vs_convbench, "x", r.impl == "convbench"),
                                        ratio_text(rr.vs_one_thread, "x"))),
                  "-" if math.isnan(r.rel_err) else f"{r.rel_err:.0e}")
    return t


def ratio_text(x: Ratio, unit: str = "", exact: bool = False) -> str:
    """'0.85' over its interval '[0.83, 0.87]' (two lines: the table stays narrow enough for a
    pipe); without an interval, the value over why there is none."""
    if math.isnan(x.value):
        return "-"
    v = _ratio(x.value) + unit
    if exact:
        return v
    if x.ok:
        return f"{v}\n[{_ratio(x.lo)}, {_ratio(x.hi)}]"
    return f"{v}\n({x.why})" if x.note else v


def _ratio(v: float) -> str:
    return f"{v:.2f}" if abs(v) >= 0.1 else f"{v:.2g}"


def _ms(s: float) -> str:
    ms = s * 1e3
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 1 else f"{ms:.3f}"
