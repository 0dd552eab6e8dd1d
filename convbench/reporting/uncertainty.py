"""95% confidence intervals of a point's time, speedup and efficiency, and of a ratio of two
sweeps' times; the Mann-Whitney test and the verdict of `convbench compare`.

The data are Samples: procs -> round -> that launch's timed repeat times (a repeat's time is the
maximum over ranks), as `launch_samples` reads them from ranks.csv rows.

- A point estimate is the median of ALL pooled repeats of all its launches (summary.csv time_s);
  speedup and efficiency are computed from those pooled medians with the conventions of
  reporting/stats.py (strong S = P0 T0 / T, weak S = P T0 / T; E = S / P in both).
- The interval is a cluster bootstrap over launches, by scipy.stats.bootstrap (never a
  hand-written resampler): the resampled unit is a launch, and a launch's repeats travel
  together. The repeats within a launch are NOT resampled again: they are correlated (one
  launch, one placement, one phase of the machine), and resampling the top level of nested data
  already carries the within-launch spread into the interval (Davison & Hinkley 1997, sec. 3.8;
  resampling both levels counts that spread twice). So the interval is about launches: more
  launches tighten it, more repeats per launch only as far as they steady each launch.
- Speedup and efficiency pair P with the base point by round: the resampled unit is a round
  present in both, so a slow round slows both and the interval includes the base's noise.
  Efficiency's interval is speedup's divided by P (E = S / P in both modes).
- A ratio of two sweeps (B / A) resamples A's and B's launches independently.
- Method: the expanded percentile interval (Hesterberg 2015, "What teachers should know about
  the bootstrap", sec. 5): scipy's percentile interval at a confidence level widened for n
  resampled units (`level`), because a plain bootstrap of 5 launches is too narrow (it covered
  the true median in only 84-88% of simulated experiments; expanded: 92-98%). 2000 resamples
  with a fixed seed (the same data give the same interval); with few launches the bootstrap
  distribution has few distinct values (5 launches: 126 multisets), so more add nothing. BCa
  was no better in the calibration (its acceleration comes from a jackknife of 5 launches).
  tests/reporting/test_uncertainty.py measures the coverage at the default launches x repeats.
- Fewer than MIN_LAUNCHES (5) launches (or rounds in common with the base) give no interval:
  NaN bounds and a note "too few samples: N launches, 5 needed". With 3 or 4 launches even the
  expanded interval covered only 73-84% and 86-90% of simulated experiments, and no
  distribution-free interval for a median can do much better: the range of n launch medians
  covers it with probability 1 - 2^(1-n) (75% for 3, 94% for 5).
"""
from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass
from math import comb, nan
from typing import Callable, Iterable, Mapping

import numpy as np
from scipy import stats as sps

#: the confidence level of every interval
CONFIDENCE = 0.95
#: the fewest launches (or paired rounds) an interval is computed from
MIN_LAUNCHES = 5
#: bootstrap resamples and method (see the module's docstring)
N_RESAMPLES = 2000
METHOD = "percentile"
#: the bootstrap's seed: the same data always give the same interval
SEED = 20261130

#: procs -> round -> one launch's timed repeat times (max over ranks), in repeat order
Samples = dict[int, dict[int, np.ndarray]]


@dataclass(frozen=True)
class Interval:
    """A point estimate and its 95% interval; note says why there is no interval ('' if any)."""

    value: float
    lo: float = nan
    hi: float = nan
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.note == "" and math.isfinite(self.lo) and math.isfinite(self.hi)

    @property
    def rel_width(self) -> float:
        """(hi - lo) / value; NaN without an interval."""
        if not self.ok or not self.value:
            return nan
        return (self.hi - self.lo) / self.value


def _num(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return nan
    return f


def _whole(v, default: int) -> int:
    f = _num(v)
    return int(f) if math.isfinite(f) else default


def launch_samples(rows: Iterable[Mapping]) -> Samples:
    """ranks.csv rows (dicts with procs, launch, round, repeat, rank, time_s) -> Samples: per
    P and round, each repeat's maximum over ranks, in repeat order. A row without a round
    (schema 1-2) is round 0; without a launch, its round tells its launch. A row without a
    finite time is skipped. Two launches of one P in one round contradict the sweep's design:
    a ValueError."""
    acc: dict[tuple[int, int], dict[int, float]] = {}
    round_of: dict[tuple[int, int], int] = {}
    for r in rows:
        t = _num(r.get("time_s"))
        if not math.isfinite(t):
            continue
        rnd = _whole(r.get("round"), 0)
        key = (int(_num(r["procs"])), _whole(r.get("launch"), rnd))
        round_of.setdefault(key, rnd)
        reps = acc.setdefault(key, {})
        rep = int(_num(r.get("repeat")))
        reps[rep] = max(reps.get(rep, -math.inf), t)
    out: Samples = {}
    for (p, launch), reps in sorted(acc.items()):
        rnd = round_of[(p, launch)]
        if rnd in out.setdefault(p, {}):
            raise ValueError(f"P={p}: two launches in round {rnd} (launch {launch} and another)")
        out[p][rnd] = np.array([reps[i] for i in sorted(reps)], dtype=float)
    return {p: dict(sorted(rounds.items())) for p, rounds in out.items()}


def _pooled(launches: Mapping[int, np.ndarray]) -> np.ndarray:
    arrs = [np.asarray(v, dtype=float).ravel() for v in launches.values()]
    out = np.concatenate(arrs) if arrs else np.empty(0)
    return out[np.isfinite(out)]


def pooled_median(launches: Mapping[int, np.ndarray]) -> float:
    """The median of all repeats of all launches (NaN without any)."""
    v = _pooled(launches)
    return float(np.median(v)) if v.size else nan


def cv(launches: Mapping[int, np.ndarray]) -> float:
    """Coefficient of variation of the pooled repeat times (noise.cv: std, ddof 1, / mean):
    the one the 'cv' flag reads."""
    from convbench.reporting import noise
    return noise.cv(_pooled(launches))


def too_few(n: int, what: str = "launch", where: str = "") -> str:
    """The note of an interval that could not be computed: 'too few samples: 2 launches, 3
    needed' (where: ' in B', ' in common with P=1' after the count)."""
    plural = what + ("es" if what.endswith("h") else "s")
    return f"too few samples: {n} {what if n == 1 else plural}{where}, {MIN_LAUNCHES} needed"


def _matrix(launches: list[np.ndarray]) -> np.ndarray:
    """Launches as rows of a matrix, padded with NaN where a launch has fewer repeats."""
    width = max(len(a) for a in launches)
    m = np.full((len(launches), width), nan)
    for i, a in enumerate(launches):
        m[i, :len(a)] = a
    return m


def _median_of(m: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """idx (..., L) launch indices -> the median of the pooled repeats of those launches."""
    ragged = bool(np.isnan(m).any())

    def med(idx: np.ndarray) -> np.ndarray:
        pooled = m[idx].reshape(*idx.shape[:-1], -1)
        return np.nanmedian(pooled, axis=-1) if ragged else np.median(pooled, axis=-1)
    return med


def level(*sizes: int) -> float:
    """The confidence level handed to the bootstrap for samples of these sizes (launches or
    rounds): CONFIDENCE, expanded for small samples as in Hesterberg's expanded percentile
    interval. The bootstrap's spread is too small by about sqrt((n - 1) / n), and its
    quantiles are the normal's where Student's t with the samples' degrees of freedom
    (sum of n - 1) is due: the level is 2 Phi(sqrt(n / (n - 1)) t) - 1, n the smallest size,
    t Student's quantile of CONFIDENCE."""
    n, df = min(sizes), sum(k - 1 for k in sizes)
    if n < 2:
        return CONFIDENCE
    t = sps.t.ppf(1 - (1 - CONFIDENCE) / 2, df)
    return float(1 - 2 * sps.norm.sf(math.sqrt(n / (n - 1)) * t))


def bootstrap(data: tuple, statistic, value: float, *,
              paired: bool = False) -> tuple[float, float]:
    """The one bootstrap of every interval: scipy.stats.bootstrap (N_RESAMPLES, METHOD, SEED)
    at the level expanded for the sizes (`level`); (lo, hi). data: independent samples (here:
    index arrays of launches), or with paired=True arrays of the same n pairs (level(n); the
    kernels' interleaved repeats). A degenerate bootstrap distribution (every resample the
    same) gives lo = hi = value."""
    sizes = (len(data[0]),) if paired else tuple(len(d) for d in data)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")     # a degenerate distribution warns and gives NaN
        res = sps.bootstrap(data, statistic, n_resamples=N_RESAMPLES, vectorized=True,
                            paired=paired, confidence_level=level(*sizes),
                            method=METHOD, random_state=np.random.default_rng(SEED), axis=-1)
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(lo) and math.isfinite(hi)) and np.ptp(res.bootstrap_distribution) == 0:
        return value, value
    return lo, hi


def time_interval(launches: Mapping[int, np.ndarray]) -> Interval:
    """The pooled median time of one point and its 95% interval (launches resampled)."""
    arrs = [np.asarray(a, dtype=float) for a in launches.values()]
    arrs = [a[np.isfinite(a)] for a in arrs]
    arrs = [a for a in arrs if a.size]
    value = pooled_median(launches)
    if len(arrs) < MIN_LAUNCHES:
        return Interval(value, note=too_few(len(arrs)))
    med = _median_of(_matrix(arrs))
    lo, hi = bootstrap((np.arange(len(arrs)),), lambda i, axis=-1: med(i), value)
    return Interval(value, lo, hi)


def _speedup(mode: str, p0: int, p: int, t0, t):
    return (p if mode == "weak" else p0) * t0 / t


def scaling_intervals(mode: str, p0: int, base: Mapping[int, np.ndarray], p: int,
                      point: Mapping[int, np.ndarray]) -> tuple[Interval, Interval]:
    """(speedup, efficiency) of P against the base P0, each with its 95% interval, from the
    rounds present in both (paired: a resample draws rounds, and each round brings its base and
    its P launch). The values come from the pooled medians of all launches."""
    t0, t = pooled_median(base), pooled_median(point)
    s = _speedup(mode, p0, p, t0, t) if t0 > 0 and t > 0 else nan
    common = [k for k in sorted(set(base) & set(point))
              if np.isfinite(base[k]).any() and np.isfinite(point[k]).any()]
    if len(common) < MIN_LAUNCHES:
        note = too_few(len(common), "round", f" in common with P={p0}")
        return Interval(s, note=note), Interval(s / p, note=note)
    mb = _median_of(_matrix([np.asarray(base[k], float) for k in common]))
    mp = _median_of(_matrix([np.asarray(point[k], float) for k in common]))
    lo, hi = bootstrap((np.arange(len(common)),),
                        lambda i, axis=-1: _speedup(mode, p0, p, mb(i), mp(i)), s)
    return Interval(s, lo, hi), Interval(s / p, lo / p, hi / p)


def ratio_interval(a: Mapping[int, np.ndarray], b: Mapping[int, np.ndarray]) -> Interval:
    """B / A of the pooled median times and its 95% interval (A's and B's launches resampled
    independently: two sweeps share no rounds)."""
    ta, tb = pooled_median(a), pooled_median(b)
    value = tb / ta if ta > 0 and tb > 0 else nan
    la = [x for x in (np.asarray(v, float) for v in a.values()) if np.isfinite(x).any()]
    lb = [x for x in (np.asarray(v, float) for v in b.values()) if np.isfinite(x).any()]
    n = min(len(la), len(lb))
    if n < MIN_LAUNCHES:
        return Interval(value, note=too_few(n, where=" in A" if len(la) == n else " in B"))
    ma, mb = _median_of(_matrix(la)), _median_of(_matrix(lb))
    lo, hi = bootstrap((np.arange(len(la)), np.arange(len(lb))),
                        lambda i, j, axis=-1: mb(j) / ma(i), value)
    return Interval(value, lo, hi)


def launch_times(launches: Mapping[int, np.ndarray]) -> np.ndarray:
    """Each launch's time: the median of its repeats."""
    out = [np.nanmedian(a) for a in (np.asarray(v, float) for v in launches.values())
           if np.isfinite(a).any()]
    return np.asarray(out, dtype=float)


def mann_whitney(a_launch_times, b_launch_times) -> float:
    """Two-sided p-value of the Mann-Whitney U test between two sets of launch times (exact
    for small samples, without ties). NaN where the test means nothing: a side with fewer than
    MIN_LAUNCHES launches, or so few that even complete separation could not reach p < 0.05
    (3 against 3: the smallest two-sided p is 2 / C(6, 3) = 0.1)."""
    a = np.asarray(a_launch_times, dtype=float)
    b = np.asarray(b_launch_times, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if min(a.size, b.size) < 3 or 2 / comb(a.size + b.size, a.size) > 1 - CONFIDENCE:
        return nan
    return float(sps.mannwhitneyu(a, b, alternative="two-sided", method="auto").pvalue)


VERDICTS = ("faster", "slower", "no detectable difference", "too few samples")


def verdict(ratio: Interval, p_value: float, threshold: float = 0.05, alpha: float = 0.05) -> str:
    """B against A from B/A with its interval and the Mann-Whitney p over launch times:
    'too few samples' without an interval or a p-value; 'slower' where p < alpha and
    B/A >= 1 + threshold; 'faster' where p < alpha and B/A <= 1 - threshold; otherwise 'no
    detectable difference'. The test decides whether there is a difference, the threshold
    whether it is large enough to count; the interval says how large it may be. (Requiring the
    interval to exclude 1 as well would be a second test: at the default 5 launches x 3
    repeats it lowered the power to find a 10% shift at CV 5% from 0.92 to 0.90.)"""
    if not ratio.ok or not math.isfinite(p_value):
        return "too few samples"
    if p_value < alpha:
        if ratio.value >= 1 + threshold:
            return "slower"
        if ratio.value <= 1 - threshold:
            return "faster"
    return "no detectable difference"


def add_intervals(rows: list[dict], samples: Samples, mode: str) -> list[dict]:
    """Summary rows (after reporting.stats.add_scaling) -> new dicts with time_lo_s, time_hi_s,
    speedup_lo/hi, efficiency_lo/hi, ci_note and cv, and launches where missing. The baseline
    is add_scaling's: the smallest P that is ok and verified (none for 'run')."""
    good = [r for r in rows if r.get("status") == "ok" and r.get("verified")]
    base = min(good, key=lambda r: r["procs"]) if good and mode != "run" else None
    out = []
    for r in rows:
        r = dict(r)
        launches = samples.get(r["procs"], {})
        if not (isinstance(r.get("launches"), numbers.Integral) and r["launches"] >= 0):
            r["launches"] = len(launches)
        ti = time_interval(launches) if r.get("status") == "ok" else Interval(nan, note="")
        r.update(time_lo_s=ti.lo, time_hi_s=ti.hi, cv=cv(launches), ci_note=ti.note,
                 speedup_lo=nan, speedup_hi=nan, efficiency_lo=nan, efficiency_hi=nan)
        if base is not None and r["procs"] in {g["procs"] for g in good}:
            s, e = scaling_intervals(mode, base["procs"], samples.get(base["procs"], {}),
                                     r["procs"], launches)
            r.update(speedup_lo=s.lo, speedup_hi=s.hi, efficiency_lo=e.lo, efficiency_hi=e.hi)
            r["ci_note"] = ti.note or s.note
        out.append(r)
    return out
