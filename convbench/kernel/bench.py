"""Kernel microbenchmark: convbench's C kernel beside other implementations, in one run.

Pure functions the CLI (``convbench kernels``) and ``benchmarks/kernel_bench.py`` call:

- :func:`parse_shape`: a preset name (``fat`` = batch 8 of the fat workload, ``light``,
  ``resnet``, any other preset) or a benchdnn-style descriptor
  ``mb32ic64ih56oc64kh3ph1`` -> a :class:`~convbench.workload.spec.Workload` (so FLOPs and bytes
  come from ``Workload.flops`` / ``Workload.bytes_moved``).
- :func:`run`: every implementation measured on the same data with interleaved repeats;
  returns :class:`Result` rows (plain data).
- :func:`to_csv`, :func:`read_csv`, :func:`table`: the exporters (they only format).

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

import csv
import dataclasses
import math
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convbench.workload import spec as wl_mod
from convbench.core.errors import ConvbenchError, UsageError
from convbench.core.numeric import rel_err
from convbench.core.torchconv import conv2d_backward

__all__ = ["IMPLS", "parse_shape", "parse_compare", "parse_threads", "Result", "run",
           "to_csv", "read_csv", "table", "CSV_FIELDS", "as_dict", "plan", "benchmark",
           "describe", "roofline", "roofline_title"]

IMPLS = ("convbench", "naive", "numpy", "torch", "stream")
PASSES = ("forward", "backward")
#: batch of the "fat" shape here (the full workload has 80; its per-image cost is the same)
FAT_BATCH = 8
_KEYS = ("mb", "ic", "ih", "iw", "oc", "kh", "kw", "sh", "sw", "ph", "pw")
_TOKEN = re.compile(r"(mb|ic|ih|iw|oc|kh|kw|sh|sw|ph|pw)(\d+)")


# ---- parsing ----------------------------------------------------------------------------------

def parse_shape(text: str) -> wl_mod.Workload:
    """A preset name or a benchdnn-style descriptor -> Workload.

    Descriptor: ``mb`` (batch) ``ic`` ``ih`` [``iw``] ``oc`` ``kh`` [``kw``] [``sh`` ``sw``
    ``ph`` ``pw``], each followed by its number, in any order, e.g. ``mb32ic64ih56oc64kh3ph1``.
    Defaults: iw = ih, kw = kh, stride 1, padding 0; as in benchdnn a given sh or ph also sets
    sw or pw unless those are given too.
    """
    t = (text or "").strip().lower()
    if not t:
        raise UsageError("empty --shape; give a preset (fat, light, resnet) or a descriptor "
                         "like mb32ic64ih56oc64kh3ph1")
    if t.isidentifier() and not _TOKEN.match(t):
        name = "fat" if t in ("fat", f"fat{FAT_BATCH}") else t
        wl = wl_mod.preset(name)
        return wl.with_batch(FAT_BATCH) if name == "fat" and wl.batch > FAT_BATCH else wl
    values: dict[str, int] = {}
    pos = 0
    for m in _TOKEN.finditer(t):
        if m.start() != pos:
            break
        key = m.group(1)
        if key in values:
            raise UsageError(f"shape descriptor {text!r}: {key} is given twice")
        values[key] = int(m.group(2))
        pos = m.end()
    if pos != len(t):
        raise UsageError(f"shape descriptor {text!r}: cannot parse {t[pos:]!r} (expected "
                         f"keys {' '.join(_KEYS)} each followed by a number, e.g. "
                         "mb32ic64ih56oc64kh3ph1)")
    missing = [k for k in ("mb", "ic", "ih", "oc", "kh") if k not in values]
    if missing:
        raise UsageError(f"shape descriptor {text!r}: missing {', '.join(missing)}")
    v = values
    sh, ph = v.get("sh", 1), v.get("ph", 0)
    return wl_mod.Workload(
        name=t, batch=v["mb"], c_in=v["ic"], c_out=v["oc"], height=v["ih"],
        width=v.get("iw", v["ih"]), kh=v["kh"], kw=v.get("kw", v["kh"]), stride_h=sh,
        stride_w=v.get("sw", sh), pad_h=ph, pad_w=v.get("pw", ph))


def describe(wl: wl_mod.Workload) -> str:
    """The benchdnn descriptor of a workload (the inverse of parse_shape)."""
    return (f"mb{wl.batch}ic{wl.c_in}ih{wl.height}iw{wl.width}oc{wl.c_out}kh{wl.kh}kw{wl.kw}"
            f"sh{wl.stride_h}sw{wl.stride_w}ph{wl.pad_h}pw{wl.pad_w}")


def parse_compare(text: str) -> tuple[str, ...]:
    """'naive,numpy,torch' -> the implementations besides convbench (validated, in order)."""
    names = [s.strip().lower() for s in (text or "").split(",") if s.strip()]
    bad = [n for n in names if n not in IMPLS]
    if bad:
        raise UsageError(f"unknown implementation(s) in --compare: {', '.join(bad)}; "
                         f"choose from {', '.join(IMPLS[1:])}")
    return tuple(dict.fromkeys(n for n in names if n != "convbench"))


def parse_threads(text: str) -> tuple[int, ...]:
    """'1' or '1,2' -> thread counts (each >= 1)."""
    out = []
    for part in str(text).split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise UsageError(f"--threads must be integers >= 1 (e.g. 1 or 1,2), got {text!r}")
        out.append(int(part))
    return tuple(dict.fromkeys(out))


# ---- results ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Result:
    """One implementation at one thread count: what the exporters see."""

    shape: str            # the shape as given (preset name or descriptor)
    descriptor: str       # the full benchdnn descriptor
    pass_: str            # forward | backward (backward: dx, dw and db)
    impl: str             # convbench | naive | numpy | torch
    threads: int          # threads it was given (naive: always 1)
    method: str           # convbench: the method(s) the dispatcher chose; others: ""
    repeats: int          # timed repeats (fewer than asked when the time budget ran out)
    median_s: float
    min_s: float
    max_s: float
    gflops: float         # FLOPs / median time
    gbs: float            # compulsory bytes / median time
    bound_s: float        # roofline bound at `threads` cores (nan without a roofline)
    roofline: float       # bound_s / median_s: 1.0 is at the bound
    rel_err: float        # max |out - convbench's| / max |convbench's| over the outputs


CSV_FIELDS = ["shape", "descriptor", "pass", "impl", "threads", "method", "repeats",
              "median_ms", "min_ms", "max_ms", "gflops", "gbs", "bound_ms", "roofline",
              "rel_err"]


# ---- implementations ----------------------------------------------------------------------------

class _Case:
    """The data of one shape and pass, and a callable per implementation."""

    def __init__(self, wl: wl_mod.Workload, pass_: str, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.wl, self.pass_ = wl, pass_
        self.geo = dict(stride=wl.stride, padding=wl.padding)
        self.x = rng.standard_normal(wl.input_shape(), dtype=np.float32)
        self.w = rng.standard_normal(wl.weight_shape(), dtype=np.float32)
        self.b = rng.standard_normal(wl.c_out, dtype=np.float32)
        if pass_ == "backward":
            self.dy = rng.standard_normal(wl.output_shape(), dtype=np.float32)

    def fn(self, impl: str, threads: int):
        """A callable that runs the pass once and returns its outputs (preallocated)."""
        from convbench import kernel
        x, w, b, geo = self.x, self.w, self.b, self.geo
        fwd = self.pass_ == "forward"
        if impl in ("convbench", "naive"):
            if fwd:
                y = _touched(np.empty(self.wl.output_shape(), np.float32))
                if impl == "naive":
                    return lambda: (kernel.forward_naive(x, w, b, out=y, **geo),)
                return lambda: (kernel.forward(x, w, b, out=y, threads=threads, **geo),)
            dx, dw, db = _touched(np.empty_like(x)), np.empty_like(w), np.empty_like(b)
            if impl == "naive":
                return lambda: kernel.backward_naive(x, w, self.dy, dx=dx, dw=dw, db=db, **geo)
            return lambda: kernel.backward(x, w, self.dy, dx=dx, dw=dw, db=db, threads=threads,
                                           **geo)
        if impl == "stream":
            if fwd:
                y = _touched(np.empty(self.wl.output_shape(), np.float32))
                return lambda: (kernel.stream(x, w, out=y, threads=threads, **geo),)
            o = _touched(np.empty_like(x))
            return lambda: (kernel.stream(x, w, self.dy, out=o, threads=threads, **geo),)
        if impl == "numpy":
            from convbench.kernel import reference
            if fwd:
                return lambda: (reference.conv2d_forward(x, w, b, **geo),)
            return lambda: reference.conv2d_backward(x, w, self.dy, **geo)
        if impl == "torch":
            import torch
            torch.set_num_threads(threads)
            tx, tw, tb = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
            stride, padding = list(self.wl.stride), list(self.wl.padding)
            if fwd:
                def run_fwd():
                    torch.set_num_threads(threads)
                    with torch.no_grad():
                        return (torch.nn.functional.conv2d(tx, tw, tb, stride, padding).numpy(),)
                return run_fwd
            tdy = torch.from_numpy(self.dy)

            def run_bwd():
                torch.set_num_threads(threads)
                dx_, dw_, db_ = conv2d_backward(tdy, tx, tw, stride, padding)
                return dx_.numpy(), dw_.numpy(), db_.numpy()
            return run_bwd
        raise UsageError(f"unknown implementation {impl!r}")


def _touched(a: np.ndarray) -> np.ndarray:
    """a, every page of it written once, so that no timed run pays for faulting them in (the
    first call into a fresh 576 MB output takes ten times a later one)."""
    a.fill(0)
    return a


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure means: not available
        return False
    return True


def run(wl: wl_mod.Workload, pass_: str = "forward", *, impls=("naive",), threads=(1,),
        repeats: int = 5, warmup: int = 1, budget_s: float = 30.0, roof: dict | None = None,
        shape_name: str | None = None, seed: int = 0, progress=None) -> list[Result]:
    """Measure convbench and `impls` on the same data, repeats interleaved round-robin.

    threads: thread counts (convbench, torch and stream run at each; naive and numpy once, as
    1). An implementation is timed at least once; once its timed total exceeds budget_s it sits
    out the later rounds (its row says how many repeats it got); a warm-up run longer than a
    second counts as its first timed repeat (its cold-start cost is negligible at that length).
    roof: a machine.roofline() dict for the bound columns (None: they are nan). progress: an
    optional callable(str).
    """
    from convbench import kernel
    from convbench.kernel import roofline as machine
    if pass_ not in PASSES:
        raise UsageError(f"--pass must be forward or backward, got {pass_!r}")
    if repeats < 1:
        raise UsageError(f"--repeats must be >= 1, got {repeats}")
    if warmup < 0:
        raise UsageError(f"warm-up repeats must be >= 0, got {warmup}")
    threads = tuple(threads)
    impls = tuple(i for i in impls if i != "convbench")
    if "torch" in impls and not torch_available():
        impls = tuple(i for i in impls if i != "torch")
    try:
        case = _Case(wl, pass_, seed)
    except MemoryError:
        raise ConvbenchError(f"not enough memory for the data of {wl.describe()}") from None
    entries = []  # (impl, threads)
    for t in threads:
        entries.append(("convbench", t))
    for impl in impls:
        for t in ((1,) if impl in ("naive", "numpy") else threads):
            entries.append((impl, t))
    entries = list(dict.fromkeys(entries))
    fns: dict = {}
    errs: dict = {}
    times: dict = {e: [] for e in entries}
    ref = None
    for e in entries:
        if progress:
            progress(f"warm-up {e[0]} ({e[1]} thread{'s' if e[1] > 1 else ''})")
        fns[e] = case.fn(*e)
        for i in range(max(warmup, 1)):  # at least one untimed run: the error check uses it
            t0 = time.perf_counter()
            out = fns[e]()
            took = time.perf_counter() - t0
            if took > 1.0:  # a slow implementation: its warm-up is its first timed repeat
                times[e].append(took)
                break
        if ref is None:  # convbench at the first thread count: what the others are checked by
            ref = [np.array(o, copy=True) for o in out]
        errs[e] = math.nan if e[0] == "stream" else max(rel_err(g, r) for g, r in zip(out, ref))  # (not a convolution)
        del out
    for r in range(repeats):
        if progress:
            progress(f"repeat {r + 1}/{repeats}")
        for e in entries:
            if len(times[e]) >= repeats or (times[e] and sum(times[e]) > budget_s):
                continue
            t0 = time.perf_counter()
            fns[e]()
            times[e].append(time.perf_counter() - t0)
    flops = wl.flops(pass_)
    nbytes = wl.bytes_moved(pass_)
    methods = kernel.method_for(wl.input_shape(), wl.weight_shape(), wl.stride, wl.padding)
    if pass_ == "forward":
        method = methods["forward"]
    else:
        method = "/".join(dict.fromkeys([methods["backward_input"], methods["backward_weight"]]))
    rows = []
    for (impl, t), ts in times.items():
        med = statistics.median(ts)
        bound = machine.bound_seconds(flops, nbytes, roof, t) if roof else math.nan
        rows.append(Result(
            shape=shape_name or wl.name, descriptor=describe(wl), pass_=pass_, impl=impl,
            threads=t, method=method if impl == "convbench" else "", repeats=len(ts),
            median_s=med, min_s=min(ts), max_s=max(ts), gflops=flops / med / 1e9,
            gbs=nbytes / med / 1e9, bound_s=bound, roofline=bound / med,
            rel_err=errs[(impl, t)]))
    return rows


def plan(shapes: str, passes: str = "forward", threads: str = "1",
         compare: str = "naive,torch,stream", repeats: int = 5,
         budget_s: float = 30.0) -> tuple[list, list[str], tuple[int, ...], tuple[str, ...],
                                           list[str]]:
    """Validate what ``convbench kernels`` was asked, measuring nothing: returns (shapes as
    (name, Workload) pairs, passes, thread counts, implementations, notes); raises UsageError."""
    wls = [(name.strip(), parse_shape(name)) for name in shapes.split(",") if name.strip()]
    if not wls:
        raise UsageError("--shape is empty")
    ps = [p.strip().lower() for p in passes.split(",") if p.strip()]
    bad = [p for p in ps if p not in PASSES]
    if bad or not ps:
        raise UsageError(f"--pass must be forward or backward (or both: forward,backward), "
                         f"got {passes!r}")
    ts = parse_threads(threads)
    impls = parse_compare(compare)
    if repeats < 1:
        raise UsageError(f"--repeats must be >= 1, got {repeats}")
    if not budget_s > 0:
        raise UsageError(f"--budget must be > 0 seconds, got {budget_s}")
    notes = []
    if "torch" in impls and not torch_available():
        notes.append("torch is not importable here: skipped")
        impls = tuple(i for i in impls if i != "torch")
    if "numpy" in impls:
        notes.append("numpy = convbench.kernel.reference (float64, BLAS threads as configured)")
    return wls, list(dict.fromkeys(ps)), ts, impls, notes


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


def replace_shape(rows: list[Result], name: str) -> list[Result]:
    return [dataclasses.replace(r, shape=name) for r in rows]
