"""Two sweeps side by side per P (MPICH vs Open MPI, scatter vs local, before vs after).

Pure: takes two loaded sweeps (results.Sweep), returns a Comparison (plain data) that the
exporters in tables.py format. The ratio is B / A of the median times (below 1: B is faster),
its spread [B min / A max, B max / A min] comes from the repeats' min-max ranges, and where
those ranges overlap the difference is within the noise of the repeats.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from convbench.reporting import stats
from convbench.results.store import SUMMARY, Sweep, require

#: workload fields that do not change the work
_COSMETIC = {"description"}


@dataclass(frozen=True)
class ComparedPoint:
    """One P of either sweep (times in seconds; NaN where that sweep has no time)."""

    procs: int
    in_a: bool             # A has a row for this P (measured or failed)
    in_b: bool
    a_time_s: float        # A's median over repeats of the max over ranks
    a_min_s: float
    a_max_s: float
    a_status: str          # '' when not in A
    b_time_s: float
    b_min_s: float
    b_max_s: float
    b_status: str
    ratio: float           # B / A of the median times
    ratio_min: float       # B min / A max
    ratio_max: float       # B max / A min
    overlap: bool          # the min-max ranges overlap: within noise
    note: str              # 'only in A', 'failed in B: ...', 'within noise ...', ''


@dataclass(frozen=True)
class Comparison:
    a: stats.SweepContext
    b: stats.SweepContext
    points: tuple[ComparedPoint, ...]
    warnings: tuple[str, ...]


def _workload_diff(a: dict, b: dict) -> list[str]:
    a = a if isinstance(a, dict) else {}
    b = b if isinstance(b, dict) else {}
    keys = [k for k in dict.fromkeys([*a, *b]) if k not in _COSMETIC]
    return [f"{k} {a.get(k)} vs {b.get(k)}" for k in keys if a.get(k) != b.get(k)]


def _side(r: dict | None) -> tuple[float, float, float, str]:
    if r is None:
        return math.nan, math.nan, math.nan, ""
    return r["time_s"], r["time_min_s"], r["time_max_s"], r["status"]


def compare(a: Sweep, b: Sweep) -> Comparison:
    """A and B per P, with the warnings a reader needs (different workloads, noise)."""
    for s in (a, b):
        require(s, SUMMARY, ("time_s", "time_min_s", "time_max_s", "status"))
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
    out = []
    for p in sorted(set(ra) | set(rb)):
        pa, pb = ra.get(p), rb.get(p)
        at, amin, amax, ast = _side(pa)
        bt, bmin, bmax, bst = _side(pb)
        ratio = lo = hi = math.nan
        overlap = False
        notes = []
        if pa is None or pb is None:
            notes.append("only in A" if pb is None else "only in B")
        else:
            for name, r in (("A", pa), ("B", pb)):
                if stats.point_kind(r) == "failed":
                    notes.append(f"failed in {name}" + (f": {r['reason']}" if r["reason"] else ""))
            if not notes:
                ratio, lo, hi = stats.ratio_with_spread(at, amin, amax, bt, bmin, bmax)
                overlap = stats.ranges_overlap(amin, amax, bmin, bmax)
                if overlap:
                    notes.append("within noise (ranges overlap)")
                over = [n for n, r in (("A", pa), ("B", pb)) if r["oversubscribed"]]
                if over:
                    notes.append(f"oversubscribed in {' and '.join(over)}")
        out.append(ComparedPoint(p, pa is not None, pb is not None, at, amin, amax, ast,
                                 bt, bmin, bmax, bst, ratio, lo, hi, overlap, "; ".join(notes)))

    noisy = [str(c.procs) for c in out if c.overlap]
    if noisy:
        warnings.append(f"P={', '.join(noisy)}: the min-max ranges of A and B overlap, so the "
                        "difference there is within noise")
    for side, present in (("A", lambda c: c.in_a and not c.in_b), ("B", lambda c: c.in_b and not c.in_a)):
        only = [str(c.procs) for c in out if present(c)]
        if only:
            warnings.append(f"P={', '.join(only)} only in {side}")
    if not any(c.in_a and c.in_b for c in out):
        warnings.append("A and B have no P in common: nothing to compare")
    return Comparison(ca, cb, tuple(out), tuple(warnings))
