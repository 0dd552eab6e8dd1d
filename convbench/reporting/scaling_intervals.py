"""The scaling model's intervals (convbench.reporting.scaling): refitted on bootstrap replicates
of the sweep's launches. Pure functions, numbers only.

A round launches every P once. The replicates resample the ROUNDS that every fitted P ran in,
with scipy.stats.bootstrap (paired: the same resampled rounds for every P, so a slow round
slows all the P of a replicate together, as it did in the sweep). In a replicate, a P's time
is the median of the pooled repeats of its resampled launches (a repeat's time: the slowest
rank's), its communication time likewise; the model is refitted (scaling_fit.fit_model, the
same sequence as the point fit) and predicts every P listed. The 95% percentile intervals of
the parameters and predictions over the replicates are the model's intervals: how far the fit
moves with the launch-to-launch noise, not whether the law itself is right (the residuals say
that). Fewer than MIN_LAUNCHES rounds: no interval, and the note says why. Seeded: the same
sweep gives the same intervals.
"""
from __future__ import annotations

import math
import statistics
import warnings
from dataclasses import dataclass

import numpy as np

from convbench.reporting import uncertainty
from convbench.reporting.scaling_fit import CommFit, fit_model, predict
from convbench.workload import phases

from convbench.reporting.uncertainty import CONFIDENCE, MIN_LAUNCHES  # noqa: E402
RESAMPLES = 999
SEED = 13
NAN = math.nan

#: Samples (see reporting.uncertainty): procs -> round -> a launch's repeat times, in order
Samples = dict[int, dict[int, np.ndarray]]


@dataclass(frozen=True)
class Band:
    """A 95% interval (NaN where there is none)."""

    lo: float = NAN
    hi: float = NAN

    @property
    def ok(self) -> bool:
        return not (math.isnan(self.lo) or math.isnan(self.hi))


@dataclass(frozen=True)
class Intervals:
    """The model's intervals: the parameters', and per predicted P (in the order asked)."""

    note: str = ""           # '' or why there are none ("too few launches for intervals: ...")
    launches: int = 0        # rounds resampled (every fitted P ran in each)
    resamples: int = 0
    serial_fraction: Band = Band()
    t1_s: Band = Band()
    latency_s: Band = Band()
    bandwidth_bps: Band = Band()
    time_s: tuple = ()       # Band per predicted P
    speedup: tuple = ()
    efficiency: tuple = ()

    @property
    def ok(self) -> bool:
        return not self.note


# ---- the samples ---------------------------------------------------------------------------------
def launch_samples(ranks, values=None) -> Samples:
    """ranks.csv rows (a DataFrame) -> procs -> round -> the launch's repeats (max over ranks
    of `values`, default time_s), in repeat order: reporting.uncertainty.launch_samples, here
    also for another column (the communication time)."""
    if ranks is None or len(ranks) == 0 or not {"procs", "repeat"} <= set(ranks.columns):
        return {}
    rows = ranks if values is None else ranks.assign(time_s=values.astype(float))
    rows = rows[rows["time_s"].notna()]
    return uncertainty.launch_samples(rows.to_dict("records"))


def comm_values(ranks):
    """Each rank row's communication time: comm_s, else the sum of the communication phases
    (None without either)."""
    if ranks is None or len(ranks) == 0:
        return None
    if "comm_s" in ranks.columns:
        return ranks["comm_s"]
    cols = [k for k in phases.columns(phases.COMM) if k in ranks.columns]
    return ranks[cols].sum(axis=1) if cols else None


# ---- the bootstrap -------------------------------------------------------------------------------
def too_few(n: int) -> Intervals:
    return Intervals(note=f"too few launches for intervals: {n} round(s) launched every fitted "
                          f"P, {MIN_LAUNCHES} needed")


def bootstrap(mode: str, fit_procs, fit_bytes, times: Samples, comms: Samples | None,
              network: CommFit | None, predict_procs, predict_bytes, bytes_one: float,
              resamples: int = RESAMPLES, seed: int = SEED) -> Intervals:
    """The model's intervals. fit_procs, fit_bytes: the fitted P and the bytes each moves;
    times, comms: their samples (comms None or network given: c(P) is not refitted);
    predict_procs, predict_bytes: the P to predict; bytes_one: bytes at P = 1 (T(1))."""
    from scipy import stats as sps
    fit_procs = [int(p) for p in fit_procs]
    shared = set.intersection(*(set(times.get(p, {})) for p in fit_procs)) if fit_procs else set()
    rounds = sorted(shared)
    if len(rounds) < MIN_LAUNCHES:
        return too_few(len(rounds))
    refit_comm = network is None and comms is not None
    n_pred = len(predict_procs)

    # as lists: the median of a few dozen numbers is quicker in Python than in numpy
    t_lists = {p: {r: list(map(float, times[p][r])) for r in rounds} for p in fit_procs}
    c_lists = ({p: {r: list(map(float, comms.get(p, {}).get(r, ()))) for r in rounds}
                for p in fit_procs} if refit_comm else {})

    def pooled(lists: dict, chosen) -> float:
        values = [x for r in chosen for x in lists[r]]
        return statistics.median(values) if values else NAN

    def statistic(idx):
        chosen = [rounds[int(i)] for i in idx]
        t = [pooled(t_lists[p], chosen) for p in fit_procs]
        c = [pooled(c_lists[p], chosen) for p in fit_procs] if refit_comm else [NAN] * len(t)
        sc, cm = fit_model(mode, fit_procs, fit_bytes, t, c, network)
        t_one = sc.time(1) + cm.time(bytes_one)
        pred = [predict(mode, sc, cm, q, b, t_one) for q, b in zip(predict_procs, predict_bytes)]
        beta = 0.0 if math.isinf(cm.bandwidth_bps) else 1.0 / cm.bandwidth_bps
        return np.array([sc.serial_fraction, sc.t1_s, cm.latency_s, beta,
                         *(x[0] for x in pred), *(x[1] for x in pred), *(x[2] for x in pred)])

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        res = sps.bootstrap((np.arange(len(rounds)),), statistic, n_resamples=resamples,
                            vectorized=False, paired=True, confidence_level=CONFIDENCE,
                            method="percentile", rng=np.random.default_rng(seed))
    lo, hi = res.confidence_interval.low, res.confidence_interval.high
    bands = [Band(float(a), float(b)) for a, b in zip(lo, hi)]
    beta = bands[3]
    bandwidth = Band(1.0 / beta.hi if beta.hi > 0 else math.inf,
                     1.0 / beta.lo if beta.lo > 0 else math.inf) if beta.ok else Band()
    fixed = not refit_comm
    return Intervals(
        launches=len(rounds), resamples=resamples, serial_fraction=bands[0], t1_s=bands[1],
        latency_s=Band() if fixed else bands[2], bandwidth_bps=Band() if fixed else bandwidth,
        time_s=tuple(bands[4:4 + n_pred]), speedup=tuple(bands[4 + n_pred:4 + 2 * n_pred]),
        efficiency=tuple(bands[4 + 2 * n_pred:4 + 3 * n_pred]))


def note(iv: Intervals) -> str:
    """What the intervals are, for the model's notes."""
    if not iv.ok:
        return (f"No intervals: {iv.note}. The table shows the fit of the medians alone; "
                "run the sweep with more launches (--launches) for intervals.")
    return (f"Intervals: {100 * CONFIDENCE:g}% percentile intervals of {iv.resamples} bootstrap "
            f"replicates over the {iv.launches} rounds of launches (the same rounds resampled "
            "at every fitted P; in each replicate a P's time is the median of the pooled repeats "
            "of its resampled launches, and the model is refitted). They cover the "
            "launch-to-launch noise of the fitted points, not the choice of the law.")
