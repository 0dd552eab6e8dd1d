"""A point's row from its launches: the repeats of every launch pooled, nothing dropped.

time_s is the median over every timed repeat of every launch (a repeat's time: the maximum
over ranks), compute_s and comm_s likewise; min and max span all of them. Memory is the most
any launch used (per rank); the stages (launch, data, ...) are summed over the launches, so
they say where the point's whole wall time went. The point is ok only if every launch was ok
and verified: a launch that failed or disagreed fails the point, naming the launch.
"""
from __future__ import annotations

import math

from convbench.engine.point import LaunchOutcome
from convbench.reporting import stats
from convbench.results import records
from convbench.workload import cost


def _per_repeat(outcomes: list[LaunchOutcome], column: str) -> list[float]:
    """Every repeat of every launch: the maximum over ranks of `column`."""
    out = []
    for o in outcomes:
        by_repeat: dict[int, float] = {}
        for r in o.rank_rows:
            v = getattr(r, column)
            by_repeat[r.repeat] = max(by_repeat.get(r.repeat, -math.inf), v)
        out += [by_repeat[k] for k in sorted(by_repeat)]
    return out


def point_row(outcomes: list[LaunchOutcome], stopped: str, workload, pass_: str) -> dict:
    """The summary row (a PointRow dict, before speedup and intervals) of one point's launches
    (in launch order; at least one). workload: the point's (whole batch)."""
    outcomes = sorted(outcomes, key=lambda o: o.slot.launch)
    rows = [o.row for o in outcomes]
    good = [o for o in outcomes if o.ok]
    row = dict(rows[0])
    row.update(launches=len(good), stopped=stopped)
    for k in (*records.STAGES, "wall_s"):
        vals = [r[k] for r in rows if r[k] is not None and not math.isnan(r[k])]
        row[k] = math.fsum(vals) if vals else math.nan
    bad = [o for o in outcomes if not o.ok]
    if bad:
        o = bad[0]
        row.update(status=o.row["status"], verified=False,
                   reason=f"launch {o.slot.launch}: {o.row['reason']}" if len(outcomes) > 1 else o.row["reason"])
    else:
        row["verified"] = all(r["verified"] for r in rows)
        row["reason"] = next((r["reason"] for r in rows if r["reason"]), "")
    if not good:
        return row
    times = _per_repeat(good, "time_s")
    t = stats.median(times)
    row.update(time_s=t, time_min_s=min(times), time_max_s=max(times),
               compute_s=stats.median(_per_repeat(good, "compute_s")),
               comm_s=stats.median(_per_repeat(good, "comm_s")))
    row["gflops"] = cost.flops(workload, pass_) / t / 1e9 if t > 0 else math.nan
    row["gbs"] = cost.kernel_bytes(workload, pass_) / t / 1e9 if t > 0 else math.nan
    # memory: the most any launch held, rank by rank
    peaks = [max(vals) for vals in zip(*(o.row["mem_per_rank_mb"] for o in good))]
    if peaks:
        row.update(mem_per_rank_mb=peaks, mem_total_mb=sum(peaks), mem_max_rank_mb=max(peaks),
                   mem_rank0_mb=peaks[0],
                   mem_data_mb=max(o.row["mem_data_mb"] for o in good))
    return row
