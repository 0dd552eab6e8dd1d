"""A scaling model fitted to a sweep, to predict larger P: pure functions, numbers only.

    strong (Amdahl):    T(P) = T1 (s + (1 - s) / P) + c(P)
    weak (Gustafson):   T(P) = T1 / (1 - s (P - 1) / P) + c(P)
                        (scaled speedup S = P - s (P - 1) of the time without c(P),
                        efficiency E = T1 / T = 1 - s (P - 1) / P)
    communication:      c(P) = latency + bytes(P) / bandwidth
                        (fitted to the sweep, or measured by convbench machine's ping-pong:
                        scaling_network.py; `network` says which, the notes say why)

bytes(P) is the data the ranks move at P (comm_bytes, counted by convbench.workload.cost):
with scatter data, rank 0 sends the other ranks their shards of the batch's inputs (and dY) and
gathers their outputs (or dX); a train pass adds the Allreduce of dW and db (2 (P - 1) / P of
the gradient, a ring); a spatial decomposition adds the halo rows exchanged between the ranks'
row blocks. Local forward/backward over the batch moves nothing: c(P) = 0.

The fit, on the measured points that are ok, verified and not oversubscribed (oversubscribed
points measure contention; fit_up_to keeps only P <= that):
1. c(P) by least squares on comm_s (summary.csv, else from ranks.csv) against bytes(P), unless
   the network is measured (the manifest's "network"; network="measured", or None and the
   manifest has one): then latency and bandwidth are the ping-pong's and nothing is fitted;
2. s and T1 on time_s - c(P), minimising the residuals relative to the measured time_s
   (timing noise is multiplicative; a 10 s point does not outweigh a 1 s one). Amdahl is
   linear in (T1 s, T1 (1 - s)); Gustafson in (1 / T1, s / T1) after taking 1 / T.
s is kept in [0, 1] (a fit outside is refitted at the bound, and said so). One P cannot give
s: the model then assumes s = 0 (ideal) and says so. The intervals of the parameters and of
every prediction come from refitting the model on bootstrap replicates of the sweep's launches
(scaling_intervals.py; at least 5 rounds of launches). The fits themselves are in
scaling_fit.py, the table in scaling_table.py; this module builds the model of a sweep.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from convbench.core.errors import UsageError
from convbench.reporting import scaling_intervals, scaling_network, stats
from convbench.reporting.scaling_fit import (  # noqa: F401 - the fits, part of this API
    CommFit, ScalingFit, fit_amdahl, fit_comm, fit_gustafson, fit_model, predict)
from convbench.reporting.scaling_intervals import Band, Intervals  # noqa: F401 - this API too
from convbench.workload import cost, phases
from convbench.workload.spec import Workload

#: the P a prediction lists by default (the measured P are always added)
DEFAULT_PROCS = tuple(2 ** k for k in range(11))          # 1, 2, 4, ..., 1024
LAWS = {"strong": "amdahl", "weak": "gustafson"}


# ---- what the model says (plain data for the exporters; the fits: scaling_fit.py) ----------
@dataclass(frozen=True)
class Row:
    """One P of the table: the model, and the measurement where there is one."""

    procs: int
    batch: int
    comm_bytes: float
    model_time_s: float
    model_comm_s: float
    model_speedup: float     # strong T(1) / T(P); weak scaled P T(1) / T(P) (both of the model)
    model_efficiency: float  # strong S / P; weak T(1) / T(P)
    measured_time_s: float   # NaN where P was not measured (or failed)
    measured_comm_s: float
    residual: float          # (measured - model) / measured; NaN without a measurement
    fitted: bool             # the point was in the fit
    point: str               # fitted | predicted | oversubscribed | unverified | failed | "" (not measured)
    # the 95% intervals of the model's time, speedup and efficiency (scaling_intervals.py)
    model_time_lo_s: float = math.nan
    model_time_hi_s: float = math.nan
    model_speedup_lo: float = math.nan
    model_speedup_hi: float = math.nan
    model_efficiency_lo: float = math.nan
    model_efficiency_hi: float = math.nan


@dataclass(frozen=True)
class Model:
    mode: str
    pass_: str
    data: str
    wl: Workload             # the manifest's workload (weak: batch = per rank)
    fit_up_to: int | None
    include_oversubscribed: bool
    scaling: ScalingFit
    comm: CommFit
    decomp: str = "batch"    # batch | spatial (rows over ranks, halo exchange)
    rms_residual: float = math.nan   # over the fitted points, relative to the measured time
    rows: tuple = ()         # Row, in P order: the predicted P and every measured P
    notes: tuple = ()        # sentences on what the fit can and cannot say
    network: str = "fit"     # fit | measured: where latency and bandwidth come from
    intervals: Intervals = Intervals(note="not computed")   # the parameters' 95% intervals

    @property
    def equation(self) -> str:
        return equation(self.mode)

    def batch_at(self, procs: int) -> int:
        return self.wl.batch * procs if self.mode == "weak" else self.wl.batch

    def bytes_at(self, procs: float, batch: int | None = None) -> float:
        """bytes(P); a fractional P (a curve between the measured P) lies on the straight line
        between the P either side of it."""
        lo = int(math.floor(procs))
        if procs != lo:
            a, b = self.bytes_at(lo), self.bytes_at(lo + 1)
            return a + (b - a) * (procs - lo)
        return comm_bytes(self.wl, self.pass_, self.data, lo,
                          self.batch_at(lo) if batch is None else batch, self.decomp)

    def time(self, procs: float, nbytes: float | None = None) -> float:
        """The modelled time at P (P may be fractional, for drawing a curve)."""
        if nbytes is None:
            nbytes = self.bytes_at(procs)
        return self.scaling.time(procs) + self.comm.time(nbytes)


def equation(mode: str) -> str:
    body = ("T(P) = T1 (s + (1 - s) / P) + c(P)" if mode == "strong"
            else "T(P) = T1 / (1 - s (P - 1) / P) + c(P)")
    return f"{body}; c(P) = latency + bytes(P) / bandwidth"


def comm_bytes(wl: Workload, pass_: str, data: str, procs: int, batch: int | None = None,
               decomp: str = "batch") -> float:
    """Bytes the communication of one step moves at P ranks (batch: the whole batch there):
    convbench.workload.cost's scatter + gather + Allreduce + halo bytes."""
    if batch is not None and batch != wl.batch:
        wl = wl.with_batch(batch)
    return cost.cost(wl, pass_, data, decomp, procs).comm_bytes


# ---- the model of a sweep ---------------------------------------------------------------------
def _comm_from_ranks(ranks, procs: int) -> float:
    """Median over repeats of the max over ranks of the communication phases."""
    if ranks is None or len(ranks) == 0 or "procs" not in ranks.columns:
        return math.nan
    g = ranks[ranks["procs"] == procs]
    if len(g) == 0:
        return math.nan
    if "comm_s" in g.columns:
        c = g["comm_s"]
    else:
        cols = [k for k in phases.columns(phases.COMM) if k in g.columns]
        if not cols:
            return math.nan
        c = g[cols].sum(axis=1)
    return float(c.groupby(g["repeat"]).max().median()) if "repeat" in g.columns else float(c.max())


def _workload(manifest: dict) -> Workload:
    wl = manifest.get("workload")
    try:
        return Workload.from_dict(dict(wl))
    except (TypeError, ValueError, UsageError) as e:
        raise UsageError(f"manifest.json has no readable workload ({e}): cannot size the "
                         "communication") from None


def build(sweep, procs=DEFAULT_PROCS, fit_up_to: int | None = None,
          include_oversubscribed: bool = False, network: str | None = None,
          intervals: bool = True) -> Model:
    """Fit the sweep's scaling law and communication, and predict the time at `procs` (and
    at every measured P). sweep: results.load(path). network: measured | fit | None (measured
    when the manifest records it, else fit). intervals: False leaves out the bootstrap (the
    point fit alone, e.g. for a figure's model line)."""
    sw = sweep.manifest.get("sweep") if isinstance(sweep.manifest.get("sweep"), dict) else {}
    mode = str(sw.get("mode", ""))
    if mode == "run":
        raise UsageError("a single-point sweep (convbench run) has no scaling to model: "
                         "use a convbench strong or weak sweep")
    if mode not in LAWS:
        raise UsageError(f"manifest.json names no strong or weak sweep (mode {mode!r})")
    if fit_up_to is not None and fit_up_to < 1:
        raise UsageError(f"--fit-up-to must be >= 1, got {fit_up_to}")
    if any(int(q) < 1 for q in procs):
        raise UsageError("--procs must be positive")
    measured_comm, network_note = scaling_network.choose(sweep.manifest, network)
    pass_, data = str(sw.get("pass", "forward")), str(sw.get("data", "scatter"))
    wl = _workload(sweep.manifest)
    if pass_ not in ("forward", "backward", "train") or data not in ("scatter", "local"):
        raise UsageError(f"manifest.json has an unknown pass {pass_!r} or data {data!r}")

    rows = stats.points(sweep.summary)
    base = Model(mode, pass_, data, wl, fit_up_to, include_oversubscribed,
                 ScalingFit(LAWS[mode], 0.0, math.nan, math.nan, math.nan, False, 0, ""),
                 CommFit("none", 0.0, math.nan, math.inf, math.nan, 0, ""),
                 decomp=str(sw.get("decomp") or "batch"))
    for r in rows:
        if math.isnan(r["comm_s"]):
            r["comm_s"] = _comm_from_ranks(sweep.ranks, r["procs"])
        b = stats.as_float(r.get("batch"))
        r["_batch"] = int(b) if b >= 1 else base.batch_at(r["procs"])
        r["_bytes"] = base.bytes_at(r["procs"], r["_batch"])
    usable = ("ok", "oversubscribed") if include_oversubscribed else ("ok",)
    good = [r for r in rows if stats.point_kind(r) in usable]
    if not good:
        kinds = sorted({stats.point_kind(r) for r in rows})
        hint = " (add --include-oversubscribed to fit them)" if kinds == ["oversubscribed"] else ""
        raise UsageError(f"no verified, non-failed point to fit: the points are {', '.join(kinds)}{hint}")
    fit = [r for r in good if fit_up_to is None or r["procs"] <= fit_up_to]
    if not fit:
        raise UsageError(f"--fit-up-to {fit_up_to} leaves no point to fit: the smallest usable "
                         f"P is {min(r['procs'] for r in good)}")

    # the network's own speed, not the sweep's (local data moves nothing: nothing to measure)
    network = measured_comm if measured_comm is not None and base.bytes_at(2) > 0 else None
    scaling, comm = fit_model(mode, [r["procs"] for r in fit], [r["_bytes"] for r in fit],
                              [r["time_s"] for r in fit], [r["comm_s"] for r in fit], network)
    m = dataclasses.replace(base, scaling=scaling, comm=comm,
                            network="measured" if comm is measured_comm else "fit")

    t_one = m.time(1)
    by_p = {r["procs"]: r for r in rows}
    fitted = {r["procs"] for r in fit}
    out = []
    for q in sorted(set(int(x) for x in procs) | set(by_p)):
        r = by_p.get(q)
        batch = r["_batch"] if r else m.batch_at(q)
        nbytes = r["_bytes"] if r else m.bytes_at(q)
        t, speedup, eff = predict(mode, scaling, comm, q, nbytes, t_one)
        meas = r["time_s"] if r else math.nan
        kind = stats.point_kind(r) if r else ""
        if q in fitted:
            point = "fitted"
        elif kind == "ok" or (kind == "oversubscribed" and include_oversubscribed):
            point = "predicted"
        else:
            point = kind
        out.append(Row(q, batch, nbytes, t, comm.time(nbytes), speedup, eff, meas,
                       r["comm_s"] if r else math.nan,
                       (meas - t) / meas if meas > 0 else math.nan, q in fitted, point))
    res = [x.residual for x in out if x.fitted and not math.isnan(x.residual)]
    rms = math.sqrt(sum(v * v for v in res) / len(res)) if res else math.nan
    iv = _intervals(sweep.ranks, m, fit, out, network) if intervals else Intervals(
        note="not computed")
    if iv.ok:
        out = [dataclasses.replace(
            x, model_time_lo_s=t.lo, model_time_hi_s=t.hi, model_speedup_lo=s.lo,
            model_speedup_hi=s.hi, model_efficiency_lo=e.lo, model_efficiency_hi=e.hi)
            for x, t, s, e in zip(out, iv.time_s, iv.speedup, iv.efficiency)]
    return dataclasses.replace(
        m, rms_residual=rms, rows=tuple(out), intervals=iv,
        notes=(network_note if comm.status != "none" else f"Network: none ({comm.note}).",
               *_notes(mode, scaling, comm, fit, rows, include_oversubscribed, fit_up_to),
               *([scaling_intervals.note(iv)] if intervals else [])))


def _intervals(ranks, m: Model, fit: list, out: list, network: CommFit | None) -> Intervals:
    """The model's intervals from the launches of the fitted points (ranks.csv): c(P) is
    refitted in each replicate unless it is the measured network's or there is none."""
    procs = [r["procs"] for r in fit]
    if ranks is not None and len(ranks) and "procs" in ranks.columns:
        ranks = ranks[ranks["procs"].isin(procs)]
    times = scaling_intervals.launch_samples(ranks)
    fixed = network if network is not None else m.comm if m.comm.status == "none" else None
    values = scaling_intervals.comm_values(ranks) if fixed is None else None
    comms = scaling_intervals.launch_samples(ranks, values) if values is not None else None
    return scaling_intervals.bootstrap(
        m.mode, procs, [r["_bytes"] for r in fit], times, comms, fixed,
        [x.procs for x in out], [x.comm_bytes for x in out], m.bytes_at(1))


def _notes(mode, scaling, comm, fit, rows, include_over, fit_up_to) -> list[str]:
    n = len({r["procs"] for r in fit})
    ps = ", ".join(str(r["procs"]) for r in fit)
    notes = [f"Fitted on P = {ps} (verified, not failed"
             + ("" if include_over else ", not oversubscribed")
             + (f", P <= {fit_up_to}" if fit_up_to is not None else "") + ")."]
    if n == 1:
        notes.append("One P cannot separate the serial fraction from the parallel work: s = 0 is "
                     "assumed (ideal scaling), so every predicted time is an optimistic bound.")
    elif n == 2:
        notes.append("Two P: two parameters for two points, so the curve passes through both "
                     "(unless s is held at a bound): the residuals say nothing about the law. "
                     "Measure more P to test the model.")
    if comm.status != "none":
        notes.append("s is the serial fraction of the time without communication; the "
                     "communication c(P) is modelled on its own, from the bytes each P moves.")
    over = [r["procs"] for r in rows if stats.point_kind(r) == "oversubscribed"]
    if over and not include_over:
        notes.append(f"Oversubscribed P = {', '.join(map(str, over))}: shown, not fitted (their "
                     "time measures ranks sharing cores, not scaling).")
    top = max(r["procs"] for r in fit)
    notes.append(f"Beyond P = {top} the table extrapolates: it assumes the same per-core speed, "
                 "the same network (latency, bandwidth) and no new bottleneck (memory, "
                 "node boundaries).")
    if mode == "strong":
        notes.append("Speedup and efficiency are the model's: T(1) / T(P) and S / P.")
    else:
        notes.append("Speedup and efficiency are the model's: scaled speedup P T(1) / T(P) and "
                     "efficiency T(1) / T(P).")
    return notes
