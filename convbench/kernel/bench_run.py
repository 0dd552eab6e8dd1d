"""The measurement of ``convbench kernels``: every implementation on the same data, repeats
interleaved round-robin, one :class:`Result` row per implementation and thread count. FLOPs,
bytes and the roofline bound come from convbench.workload.cost.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

import numpy as np

from convbench.core.errors import ConvbenchError, UsageError
from convbench.core.numeric import rel_err
from convbench.core.torchconv import conv2d_backward
from convbench.kernel.bench_plan import PASSES, describe, torch_available
from convbench.workload import cost
from convbench.workload import spec as wl_mod


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
    times_s: tuple = ()   # the timed repeats in the order taken (interleaved: position i
                          # of two rows ran in the same round), for the ratios' intervals


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


def run(wl: wl_mod.Workload, pass_: str = "forward", *, impls=("naive",), threads=(1,),
        repeats: int = 5, warmup: int = 1, budget_s: float = 30.0, roof: dict | None = None,
        shape_name: str | None = None, seed: int = 0, progress=None) -> list[Result]:
    """Measure convbench and `impls` on the same data, repeats interleaved round-robin.

    threads: thread counts (convbench, torch and stream run at each; naive and numpy once, as
    1). An implementation is timed at least once; once its timed total exceeds budget_s it sits
    out the later rounds (its row says how many repeats it got); a warm-up run longer than a
    second counts as its first timed repeat (its cold-start cost is negligible at that length).
    roof: a convbench.kernel.roofline.roofline() dict for the bound columns (None: they are nan). progress: an
    optional callable(str).
    """
    from convbench import kernel
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
    flops = cost.flops(wl, pass_)
    nbytes = cost.kernel_bytes(wl, pass_)
    methods = kernel.method_for(wl.input_shape(), wl.weight_shape(), wl.stride, wl.padding)
    if pass_ == "forward":
        method = methods["forward"]
    else:
        method = "/".join(dict.fromkeys([methods["backward_input"], methods["backward_weight"]]))
    rows = []
    for (impl, t), ts in times.items():
        med = statistics.median(ts)
        bound = cost.roofline_bound(flops, nbytes, roof, t) if roof else math.nan
        rows.append(Result(
            shape=shape_name or wl.name, descriptor=describe(wl), pass_=pass_, impl=impl,
            threads=t, method=method if impl == "convbench" else "", repeats=len(ts),
            median_s=med, min_s=min(ts), max_s=max(ts), gflops=flops / med / 1e9,
            gbs=nbytes / med / 1e9, bound_s=bound, roofline=bound / med,
            rel_err=errs[(impl, t)], times_s=tuple(ts)))
    return rows
