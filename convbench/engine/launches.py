"""The launches of a sweep as they accumulate: checked against each other, pooled into points.

:class:`Launches` keeps every launch of every point (kept from an earlier session or run now)
and derives the three tables from them after each launch: :func:`cross_check` fails a launch
whose checksum or weight gradient disagrees with the first good launch (of any P), then each
point pools its launches (engine/aggregate.py), gets its speedup (reporting/stats.py), its 95%
intervals (reporting/uncertainty.py) and its noise flags (reporting/noise.py).
:func:`needs_more` says which points --target-ci wants more rounds for.
"""
from __future__ import annotations

import math

import numpy as np

from convbench.core.numeric import rel_err
from convbench.engine import aggregate, point as pt
from convbench.reporting import noise, stats, uncertainty
from convbench.results import records


GRAD_RTOL = 1e-4     # whole-batch dW across P: the float32 sums are taken in another order


class Launches:
    """The launches of one sweep so far, by P, and the rows derived from them."""

    def __init__(self, plan, done: list[pt.LaunchOutcome]):
        self.plan = plan
        self.by_p: dict[int, list[pt.LaunchOutcome]] = {}
        for o in done:
            self.by_p.setdefault(o.procs, []).append(o)
        self.stops: dict[int, str] = {}
        self.last_rows: list[dict] = []      # the summary rows of the last record()

    def add(self, o: pt.LaunchOutcome) -> None:
        self.by_p.setdefault(o.procs, []).append(o)

    def count(self, p: int) -> int:
        return len(self.by_p.get(p, []))

    def failed(self, p: int) -> bool:
        return any(not o.ok for o in self.by_p.get(p, []))

    def sampled(self, p: int) -> bool:
        return any(o.ok and o.sampled for o in self.by_p.get(p, []))

    def all(self) -> list[pt.LaunchOutcome]:
        return [o for p in self.plan.procs for o in sorted(self.by_p.get(p, []),
                                                            key=lambda o: o.slot.launch)]

    def next_position(self) -> int:
        return 1 + max((o.slot.position for o in self.all()), default=-1)

    def next_round(self) -> int:
        return 1 + max((o.slot.round for o in self.all()), default=-1)

    def mean_wall(self, p: int) -> float:
        """A launch of P's mean wall time so far (of any P where P has none yet)."""
        walls = [o.row["wall_s"] for o in self.by_p.get(p, []) if math.isfinite(o.row["wall_s"])]
        if not walls:
            walls = [o.row["wall_s"] for o in self.all() if math.isfinite(o.row["wall_s"])]
        return sum(walls) / len(walls) if walls else 0.0

    def rows(self, roof: dict | None, add_roofline) -> tuple[list[dict], list, list[dict]]:
        """(summary rows, rank rows, launch rows) of everything measured so far: launches
        cross-checked, pooled per point, speedups, 95% intervals and noise flags."""
        plan = self.plan
        everything = self.all()
        cross_check(everything, plan.mode)
        rows = []
        for p in plan.procs:
            if p not in self.by_p:
                continue
            wl = plan.workload_at(p)
            row = aggregate.point_row(self.by_p[p], self.stops.get(p, ""), wl, plan.measured.pass_)
            add_roofline(row, wl, plan.measured.pass_, plan.placement, roof)
            rows.append(row)
        rows = stats.add_scaling(rows, plan.mode)
        samples = uncertainty.launch_samples(
            records.to_dict(r) for o in everything if o.ok for r in o.rank_rows)
        rows = uncertainty.add_intervals(rows, samples, plan.mode)
        for row in rows:
            p = row["procs"]
            if row["status"] != "ok" or p not in samples:
                continue
            rank_times: dict[int, dict[int, list[float]]] = {}    # rank -> round -> compute_s
            for o in self.by_p[p]:
                for r in o.rank_rows if o.ok else ():
                    rank_times.setdefault(r.rank, {}).setdefault(r.round, []).append(r.compute_s)
            others = [o.probe.get("others_cores", math.nan) for o in self.by_p[p]]
            flags = noise.point_flags(samples[p], {k: {r: np.asarray(v) for r, v in by.items()}
                                                    for k, by in rank_times.items()}, others)
            row["flags"] = "; ".join(flags)
        return rows, [r for o in everything for r in o.rank_rows], [o.launch_row() for o in everything]


def needs_more(rows: list[dict], target_pct: float) -> list[int]:
    """The P whose interval is wider than target_pct of its value (or has none yet): the
    speedup's, for the base point its time's."""
    base = stats.baseline(rows)
    out = []
    for r in rows:
        if r["status"] != "ok" or not r.get("verified"):
            continue
        if base is not None and r["procs"] == base[0]:
            lo, hi, v = r.get("time_lo_s"), r.get("time_hi_s"), r.get("time_s")
        else:
            lo, hi, v = r.get("speedup_lo"), r.get("speedup_hi"), r.get("speedup")
        ok = all(x is not None and math.isfinite(x) for x in (lo, hi, v)) and v > 0
        if not ok or (hi - lo) / v * 100 > target_pct:
            out.append(r["procs"])
    return out




def cross_check(outcomes: list[pt.LaunchOutcome], mode: str) -> None:
    """Mark launches failed whose checksum or gradient disagrees with the first good launch
    (of any P: every launch of every point computes the same images)."""
    good = [o for o in outcomes if o.ok and o.row["verified"]]
    if not good:
        return
    ref = good[0]
    for o in good[1:]:
        errs = []
        a, b = ref.result.get("checksum_ref"), o.result.get("checksum_ref")
        exact = ref.result.get("checksum_exact", True) and o.result.get("checksum_exact", True)
        scale = max(ref.result.get("checksum_abs") or 0.0, o.result.get("checksum_abs") or 0.0)
        if a is not None and b is not None and not exact and abs(a - b) <= GRAD_RTOL * scale:
            pass        # an input gradient summed over halo rows: equal up to rounding
        elif a is not None and a != b:
            what = "checksum of the shared images" if mode == "weak" else "output checksum"
            errs.append(f"{what} {b!r} differs from {a!r} at P={ref.procs} (launch {ref.slot.launch})")
        if mode != "weak" and "dw" in ref.result and "dw" in o.result:
            err = rel_err(o.result["dw"], ref.result["dw"])
            if not err <= GRAD_RTOL:
                errs.append(f"weight gradient differs from P={ref.procs} (launch {ref.slot.launch}) by {err:.1e} (relative)")
        if errs:
            o.row.update(status="failed", verified=False, reason="; ".join(errs))
