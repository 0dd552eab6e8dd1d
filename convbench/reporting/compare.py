"""Two sweeps side by side per P (MPICH vs Open MPI, scatter vs local, before vs after).

Pure: takes two loaded sweeps (results.Sweep), returns a Comparison (plain data) that the
exporters in tables.py format. Per P: B / A of the pooled median times (below 1: B is faster)
with its 95% interval (reporting/uncertainty.ratio_interval: a bootstrap over each sweep's
launches, resampled independently), the two-sided Mann-Whitney p over the launch times (each
launch's median repeat), and a verdict (uncertainty.verdict): faster, slower, no detectable
difference, or too few samples. A difference smaller than the threshold never counts. A sweep
of schema 1-2 has one launch per point: too few samples for a verdict.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from convbench.core.errors import UsageError
from convbench.reporting import stats, uncertainty
from convbench.results.store import RANKS, SUMMARY, Sweep, require

#: workload fields that do not change the work
_COSMETIC = {"description"}
#: the smallest difference that counts, by default (5%)
THRESHOLD = 0.05

#: what the compare table's numbers are (printed under the Markdown table)
METHOD_NOTE = (
    "Times: the median of all repeats of all launches (a repeat's time is the slowest rank's), "
    "in seconds, 4 significant digits; L x R: launches x repeats per launch. B/A below 1: B is "
    f"faster; its {100 * uncertainty.CONFIDENCE:.0f}% interval is a bootstrap over launches (A's and "
    "B's resampled independently, at least "
    f"{uncertainty.MIN_LAUNCHES} launches each). p: the two-sided Mann-Whitney U test over the "
    "launch times (each launch's median repeat; it needs 4 launches against 4, or 3 against "
    "5). Verdict: slower or faster where p < 0.05 and B/A differs from 1 by at least the "
    "threshold; too few samples where there is no interval or no test.")


@dataclass(frozen=True)
class ComparedPoint:
    """One P of either sweep (times in seconds; NaN where that sweep has no time)."""

    procs: int
    in_a: bool             # A has a row for this P (measured or failed)
    in_b: bool
    a_time_s: float        # A's time_s: the median of all repeats of all launches
    a_launches: int        # launches with a time (0 where none)
    a_repeats: int         # timed repeats per launch (the most of any launch)
    a_status: str          # '' when not in A
    b_time_s: float
    b_launches: int
    b_repeats: int
    b_status: str
    ratio: float           # B / A of the pooled median times
    ratio_lo: float        # its 95% interval (NaN without one)
    ratio_hi: float
    p_value: float         # Mann-Whitney over the launch times (NaN: too few launches)
    verdict: str           # faster | slower | no detectable difference | too few samples | '' (not both)
    note: str              # 'only in A', 'failed in B: ...', 'too few samples: ...', ''


@dataclass(frozen=True)
class Comparison:
    a: stats.SweepContext
    b: stats.SweepContext
    points: tuple[ComparedPoint, ...]
    warnings: tuple[str, ...]
    threshold: float = THRESHOLD


def _workload_diff(a: dict, b: dict) -> list[str]:
    a = a if isinstance(a, dict) else {}
    b = b if isinstance(b, dict) else {}
    keys = [k for k in dict.fromkeys([*a, *b]) if k not in _COSMETIC]
    return [f"{k} {a.get(k)} vs {b.get(k)}" for k in keys if a.get(k) != b.get(k)]


def _samples(s: Sweep) -> uncertainty.Samples:
    try:
        return uncertainty.launch_samples(s.ranks.to_dict("records")) if len(s.ranks) else {}
    except ValueError as e:
        raise UsageError(f"{s.path / RANKS}: {e}") from None


def _side(r: dict | None, launches: dict) -> tuple[float, int, int, str]:
    if r is None:
        return math.nan, 0, 0, ""
    return (r["time_s"], len(launches), max((len(v) for v in launches.values()), default=0),
            r["status"])


def check_threshold(threshold: float) -> float:
    if not (math.isfinite(threshold) and 0 <= threshold < 1):
        raise UsageError(f"--threshold is a percentage in [0, 100), got {100 * threshold:g}")
    return threshold


def compare(a: Sweep, b: Sweep, threshold: float = THRESHOLD) -> Comparison:
    """A and B per P, with the warnings a reader needs (different workloads, too few samples).
    threshold: the smallest relative difference that counts as faster or slower (0.05 = 5%)."""
    check_threshold(threshold)
    for s in (a, b):
        require(s, SUMMARY, ("time_s", "status"))
        require(s, RANKS, ("procs", "repeat", "rank", "time_s"))
    ca = stats.sweep_context(a.manifest, a.path.name)
    cb = stats.sweep_context(b.manifest, b.path.name)
    warnings = []
    if ca.mode != cb.mode:
        warnings.append(f"A is a {ca.mode} sweep and B a {cb.mode} sweep: the times per P measure "
                        "different work")
    diff = _workload_diff(a.manifest.get("workload"), b.manifest.get("workload"))
    if diff:
        warnings.append(f"A and B ran different workloads ({', '.join(diff)}): the ratio compares "
                        "different work")
    if ca.pass_ != cb.pass_:
        warnings.append(f"A ran the {ca.pass_} pass and B the {cb.pass_} pass")

    ra = {r["procs"]: r for r in stats.points(a.summary)}
    rb = {r["procs"]: r for r in stats.points(b.summary)}
    sa, sb = _samples(a), _samples(b)
    out = []
    for p in sorted(set(ra) | set(rb)):
        pa, pb = ra.get(p), rb.get(p)
        la, lb = sa.get(p, {}), sb.get(p, {})
        ratio = uncertainty.Interval(math.nan)
        p_value, verdict = math.nan, ""
        notes = []
        if pa is None or pb is None:
            notes.append("only in A" if pb is None else "only in B")
        else:
            for name, r in (("A", pa), ("B", pb)):
                if stats.point_kind(r) == "failed":
                    notes.append(f"failed in {name}" + (f": {r['reason']}" if r["reason"] else ""))
            if not notes:
                ratio = uncertainty.ratio_interval(la, lb)
                p_value = uncertainty.mann_whitney(uncertainty.launch_times(la),
                                                   uncertainty.launch_times(lb))
                verdict = uncertainty.verdict(ratio, p_value, threshold)
                if ratio.note:
                    notes.append(ratio.note)
                elif math.isnan(p_value):
                    notes.append("too few launches for the Mann-Whitney test")
                over = [n for n, r in (("A", pa), ("B", pb)) if r["oversubscribed"]]
                if over:
                    notes.append(f"oversubscribed in {' and '.join(over)}")
        out.append(ComparedPoint(p, pa is not None, pb is not None, *_side(pa, la), *_side(pb, lb),
                                 ratio.value, ratio.lo, ratio.hi, p_value, verdict,
                                 "; ".join(notes)))

    few = [str(c.procs) for c in out if c.verdict == "too few samples"]
    if few:
        warnings.append(f"P={', '.join(few)}: too few launches for a verdict (an interval needs "
                        f"{uncertainty.MIN_LAUNCHES} per sweep, the test 4 against 4); sweeps "
                        "written before launches were recorded have one per point")
    for side, present in (("A", lambda c: c.in_a and not c.in_b), ("B", lambda c: c.in_b and not c.in_a)):
        only = [str(c.procs) for c in out if present(c)]
        if only:
            warnings.append(f"P={', '.join(only)} only in {side}")
    if not any(c.in_a and c.in_b for c in out):
        warnings.append("A and B have no P in common: nothing to compare")
    return Comparison(ca, cb, tuple(out), tuple(warnings), threshold)
