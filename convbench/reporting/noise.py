"""Noise flags: what makes a point's figures less trustworthy than their interval says.

Every flag is a short text with its number, in a stable order and wording, for the status line,
summary.csv's ``flags`` column ('; '-separated) and the report. A flag never drops or changes
a sample: the figures and intervals use every repeat of every ok launch either way.

The flags of one point (:func:`point_flags`), each with the threshold it is raised at:

- ``cv 14%``: the coefficient of variation (sample standard deviation / mean) of the pooled
  repeat times above :data:`CV_MAX`.
- ``first repeat 1.8x slower (warm-up too short)``: in more than half of the launches with at
  least 2 repeats, the first timed repeat took more than :data:`FIRST_REPEAT_RATIO` x the
  median of the others; the number is the median of that ratio over those launches.
- ``2 modes (22.5, 33 ms)``: with at least :data:`MODES_MIN_SAMPLES` pooled repeats, the
  peaks of a Gaussian kernel density estimate (scipy.stats.gaussian_kde, Scott's bandwidth;
  scipy.signal.find_peaks) with a prominence of at least :data:`MODE_PROMINENCE` of the highest
  density, each holding at least :data:`MODE_SHARE` of the samples (and 2), and each at least
  :data:`MODE_GAP` above the one below it (closer peaks are one level: launch-to-launch
  spread is the interval's business, not a mode). The numbers are each mode's median.
  Calibrated in tests/reporting/test_noise.py: 70% at 22.5 ms and 30% at 33 ms (2% noise
  each) is found from 10 samples on; a lognormal sample with a CV of 5% is flagged in fewer
  than 5% of trials.
- ``rank 3 1.4x slower than the median rank``: per launch, each rank's median compute time
  over the repeats against the median rank's (the lower median of the ranks that computed);
  a rank more than :data:`RANK_RATIO` x slower in more than half of the launches. The number
  is the median ratio of the slowest such rank.
- ``other processes used up to 1.6 core(s) during 3 launch(es)``: during a launch, this host's
  busy CPU time beyond what convbench and the launch's processes used (engine/noise_probe.py
  ``others_cores``, launches.csv) reached :data:`OTHERS_CORES` cores' worth. The 1-minute load
  average before and after each launch is recorded (launches.csv) but raises no flag: it counts
  the sweep's own ranks (an oversubscribed point leaves a load of 3 on 2 cores for a minute)
  and misses a burst of a few seconds.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

#: the pooled repeats' coefficient of variation above which a point is flagged
CV_MAX = 0.10
#: a first repeat slower than this many times the median of the others: warm-up too short
FIRST_REPEAT_RATIO = 1.5
#: the fewest pooled repeats the modes are looked for in
MODES_MIN_SAMPLES = 10
#: a density peak's prominence, as a share of the highest density, to count as a mode
MODE_PROMINENCE = 0.05
#: the least share of the samples a mode holds (and at least 2 samples)
MODE_SHARE = 0.10
#: the least relative distance between two modes (the upper one at least 15% above the lower)
MODE_GAP = 0.15
#: a rank this many times slower than the median rank is unequal
RANK_RATIO = 1.25


def _finite(values: Iterable[float]) -> np.ndarray:
    a = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float).ravel()
    return a[np.isfinite(a)]


def _pooled(launches: Mapping[int, np.ndarray]) -> np.ndarray:
    parts = [_finite(launches[k]) for k in sorted(launches)]
    return np.concatenate(parts) if parts else np.empty(0)


def cv(times: Iterable[float]) -> float:
    """Sample standard deviation / mean of the finite values (NaN with fewer than 2)."""
    x = _finite(times)
    if len(x) < 2 or not x.mean() > 0:
        return math.nan
    return float(x.std(ddof=1) / x.mean())


def first_repeat_ratio(launches: Mapping[int, np.ndarray]) -> float:
    """The median over launches (with >= 2 repeats) of first repeat / median of the others,
    when more than half of them exceed FIRST_REPEAT_RATIO; NaN otherwise."""
    ratios = []
    for k in sorted(launches):
        a = np.asarray(launches[k], dtype=float).ravel()
        rest = _finite(a[1:])
        if len(a) >= 2 and math.isfinite(a[0]) and len(rest) and np.median(rest) > 0:
            ratios.append(a[0] / np.median(rest))
    if not ratios or 2 * sum(r > FIRST_REPEAT_RATIO for r in ratios) <= len(ratios):
        return math.nan
    return float(np.median(ratios))


def modes(times: Iterable[float]) -> list[float]:
    """The levels of a sample (each mode's median, ascending): [] with fewer than
    MODES_MIN_SAMPLES finite values; one level for a unimodal sample. See the module's doc."""
    x = np.sort(_finite(times))
    n = len(x)
    if n < MODES_MIN_SAMPLES:
        return []
    from scipy.signal import find_peaks
    from scipy.stats import gaussian_kde
    try:
        kde = gaussian_kde(x)                   # Scott's rule
    except (np.linalg.LinAlgError, ValueError):  # every value the same: one level
        return [float(np.median(x))]
    h = float(np.sqrt(kde.covariance[0, 0]))
    grid = np.linspace(x[0] - 3 * h, x[-1] + 3 * h, 256)
    density = kde(grid)
    peaks = list(find_peaks(np.concatenate(([0.0], density, [0.0])),
                            prominence=MODE_PROMINENCE * density.max())[0] - 1)

    def split(ps: list[int]) -> list[np.ndarray]:
        """The samples of each peak: cut at the lowest density between neighbours."""
        cuts = [grid[a + int(np.argmin(density[a:b]))] for a, b in zip(ps[:-1], ps[1:])]
        return np.split(x, np.searchsorted(x, cuts))

    need = max(2.0, MODE_SHARE * n)
    while len(peaks) > 1:                       # a peak of a few samples is not a mode
        counts = [len(s) for s in split(peaks)]
        smallest = int(np.argmin(counts))
        if counts[smallest] >= need:
            break
        del peaks[smallest]
    i = 0
    while i < len(peaks) - 1:                   # peaks closer than MODE_GAP are one level
        a, b = peaks[i], peaks[i + 1]
        if grid[b] < grid[a] * (1 + MODE_GAP):
            del peaks[i if density[a] < density[b] else i + 1]
        else:
            i += 1
    if not peaks:
        return [float(np.median(x))]
    return [float(np.median(s)) for s in split(peaks)]


def unequal_rank(rank_times: Mapping[int, Mapping[int, np.ndarray]]) -> tuple[int, float] | None:
    """(rank, its median ratio to the median rank) of the slowest rank that is more than
    RANK_RATIO x slower than the median rank in more than half of the launches; None if none."""
    per_launch: dict[int, dict[int, float]] = {}    # launch -> rank -> median compute
    for rank, launches in rank_times.items():
        for k, values in launches.items():
            x = _finite(values)
            if len(x) and np.median(x) > 0:
                per_launch.setdefault(k, {})[rank] = float(np.median(x))
    ratios: dict[int, list[float]] = {}
    for meds in per_launch.values():
        if len(meds) < 2:
            continue
        ref = sorted(meds.values())[(len(meds) - 1) // 2]   # the median rank's (lower median)
        for rank, m in meds.items():
            ratios.setdefault(rank, []).append(m / ref)
    slow = {rank: float(np.median(r)) for rank, r in ratios.items()
            if 2 * sum(v > RANK_RATIO for v in r) > len(r)}
    if not slow:
        return None
    rank = max(slow, key=lambda k: (slow[k], -k))
    return rank, slow[rank]


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g}"


def point_flags(launches: Mapping[int, np.ndarray],
                rank_times: Mapping[int, Mapping[int, np.ndarray]] | None = None,
                others: Sequence[float] = ()) -> list[str]:
    """The noise flags of one point, in a stable order (see the module's doc).

    launches: round -> that launch's timed repeat times (max over ranks), in repeat order;
    rank_times: rank -> round -> that rank's compute_s per repeat; others: per launch, the
    cores' worth of CPU other processes used during it (launches.csv others_cores)."""
    flags = []
    pooled = _pooled(launches)
    if (c := cv(pooled)) > CV_MAX:
        flags.append(f"cv {c:.0%}")
    if (r := first_repeat_ratio(launches)) > FIRST_REPEAT_RATIO:
        flags.append(f"first repeat {r:.1f}x slower (warm-up too short)")
    if len(levels := modes(pooled)) >= 2:
        flags.append(f"{len(levels)} modes ({', '.join(_ms(v) for v in levels)} ms)")
    if rank_times and (slowest := unequal_rank(rank_times)):
        flags.append(f"rank {slowest[0]} {slowest[1]:.1f}x slower than the median rank")
    busy = [x for x in others if x is not None and math.isfinite(x) and x >= OTHERS_CORES]
    if busy:
        flags.append(f"other processes used up to {max(busy):.1f} core(s) during "
                     f"{len(busy)} launch(es)")
    return flags


#: cores' worth of CPU other processes may use during a launch before the point is flagged
OTHERS_CORES = 0.25
