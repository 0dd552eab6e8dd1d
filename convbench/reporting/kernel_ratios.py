"""The ratios ``convbench kernels`` reports, each with its 95% interval from the repeats:

- of bound: the roofline bound / the median time (1.0 is at the bound): the bootstrap of the
  median over the row's repeats;
- time / convbench: the median time / convbench's at the same thread count (else at 1);
- vs 1 thread: the same implementation's median at 1 thread / its median at T threads (the
  speedup of T threads).

The repeats are interleaved (a round times every implementation once, in the same order), so
two rows' repeats are paired by position (the first min(n, m)): a slow moment of the machine
slows both sides of a pair. The interval of a ratio of medians is scipy.stats.bootstrap's
(paired=True, percentile, seeded), by the sweep's rules (reporting/uncertainty.py, defined
there once): its CONFIDENCE, expanded for n pairs (or repeats) with ``uncertainty.level(n)``
(Hesterberg's expanded percentile: a plain percentile bootstrap of 5 units is too narrow), its
resamples and seed, and no interval under ``uncertainty.MIN_LAUNCHES`` pairs (or repeats): the
note says so. At 5 pairs the interval spans about the smallest to the largest pair's ratio
(it covers the true ratio about 1 - 2 / 2^5 = 94% of the time whatever the level); the expanded
level matters from about 8 pairs on. tests/reporting/test_kernel_ratios.py measures the
coverage at 5 pairs.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np

from convbench.reporting import uncertainty

CONFIDENCE = uncertainty.CONFIDENCE
MIN_PAIRS = uncertainty.MIN_LAUNCHES
NAN = math.nan


@dataclass(frozen=True)
class Ratio:
    """A ratio of medians, its 95% interval (NaN without one) and why there is none."""

    value: float = NAN
    lo: float = NAN
    hi: float = NAN
    pairs: int = 0
    note: str = ""           # '' or why there is no interval ("too few pairs for an
                             # interval: 3, 5 needed")

    @property
    def ok(self) -> bool:
        return not self.note and math.isfinite(self.lo) and math.isfinite(self.hi)

    @property
    def why(self) -> str:
        """The note in a few words, for a table cell ("too few pairs")."""
        return self.note.split(" for an interval")[0].split(",")[0]


@dataclass(frozen=True)
class RowRatios:
    of_bound: Ratio
    vs_convbench: Ratio
    vs_one_thread: Ratio


def _too_few(value: float, n: int, what: str) -> Ratio:
    return Ratio(value, pairs=n, note=f"too few {what} for an interval: {n}, {MIN_PAIRS} needed")


def _interval(data: tuple, statistic, value: float, n: int) -> Ratio:
    """The interval of n pairs (or repeats): uncertainty.bootstrap, paired."""
    lo, hi = uncertainty.bootstrap(data, statistic, value, paired=True)
    return Ratio(value, lo, hi, n)


def ratio(a, b) -> Ratio:
    """median(b) / median(a) of two rows' repeats, paired by position, with its interval."""
    n = min(len(a), len(b))
    if n == 0:
        return Ratio()
    value = statistics.median(b) / statistics.median(a)
    if n < MIN_PAIRS:
        return _too_few(value, n, "pairs")
    x, y = np.asarray(a[:n], float), np.asarray(b[:n], float)
    return _interval((x, y), lambda x, y, axis: np.median(y, axis=axis) / np.median(x, axis=axis),
                     value, n)


def of_bound(times, bound_s: float) -> Ratio:
    """bound / median(times) with its interval (the bootstrap of the median over the repeats)."""
    if not times or not math.isfinite(bound_s):
        return Ratio()
    value = bound_s / statistics.median(times)
    if len(times) < MIN_PAIRS:
        return _too_few(value, len(times), "repeats")
    return _interval((np.asarray(times, float),),
                     lambda x, axis: bound_s / np.median(x, axis=axis), value, len(times))


def ratios(rows) -> list[RowRatios]:
    """Every row's ratios (rows: bench_run.Result, as run or read back with their repeats)."""
    by = {(r.shape, r.pass_, r.impl, r.threads): r for r in rows}
    out = []
    for r in rows:
        base = (by.get((r.shape, r.pass_, "convbench", r.threads))
                or by.get((r.shape, r.pass_, "convbench", 1)))
        one = by.get((r.shape, r.pass_, r.impl, 1)) if r.threads > 1 else None
        out.append(RowRatios(
            of_bound(r.times_s, r.bound_s) if r.times_s else _unrecorded(r.roofline),
            Ratio(1.0) if base is r else _pair(base, r) if base else Ratio(),
            _pair(r, one) if one else Ratio()))
    return out


def _pair(a, b) -> Ratio:
    """b's median / a's, from their repeats (rows read from a CSV without them: no interval)."""
    if a.times_s and b.times_s:
        return ratio(a.times_s, b.times_s)
    return _unrecorded(b.median_s / a.median_s if a.median_s > 0 else NAN)


def _unrecorded(value: float) -> Ratio:
    return Ratio(value, note="no repeats recorded, so no interval")
