"""The statistics behind plot/report/compare, on hand-built tables."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from convbench.reporting import stats

nan = math.nan


def test_speedup_and_efficiency_bars_from_the_min_max_times():
    # strong, P0 = 1, T0 = 8; P = 4 ran 2.0 s (median), 1.6 .. 2.5 s over repeats
    s = stats.speedup("strong", 1, 8.0, 4, 2.0)
    lo, hi = stats.scaling_range(s, 2.0, 1.6, 2.5)
    assert (lo, hi) == pytest.approx((8.0 / 2.5, 8.0 / 1.6))      # P0 T0 / t_max, P0 T0 / t_min
    e = stats.efficiency("strong", 1, 8.0, 4, 2.0)
    assert stats.scaling_range(e, 2.0, 1.6, 2.5) == pytest.approx((8.0 / 2.5 / 4, 8.0 / 1.6 / 4))
    # weak efficiency T0 / T
    e = stats.efficiency("weak", 1, 3.0, 4, 4.0)
    assert stats.scaling_range(e, 4.0, 3.5, 5.0) == pytest.approx((3.0 / 5.0, 3.0 / 3.5))
    assert all(math.isnan(x) for x in stats.scaling_range(nan, 2.0, 1.6, 2.5))
    assert all(math.isnan(x) for x in stats.scaling_range(2.0, 2.0, nan, 2.5))


def ranks_table(spec) -> pd.DataFrame:
    """spec: {(procs, repeat, rank): (time, compute, scatter, gather, allreduce, wait)}"""
    rows = [{"procs": p, "repeat": i, "rank": r, "time_s": t, "compute_s": c, "scatter_s": s,
             "gather_s": g, "allreduce_s": a, "wait_s": w, "rss_peak_mb": 50.0 + r + i,
             "rss_base_mb": 40.0}
            for (p, i, r), (t, c, s, g, a, w) in spec.items()]
    return pd.DataFrame(rows)


def test_phase_breakdown_is_the_longest_computing_rank_of_the_median_repeat():
    df = ranks_table({
        (2, 0, 0): (3.0, 2.0, 0.5, 0.5, 0.0, 0.0), (2, 0, 1): (2.0, 1.0, 0.5, 0.5, 0.0, 0.0),
        (2, 1, 0): (5.0, 4.0, 0.5, 0.5, 0.0, 0.0), (2, 1, 1): (1.0, 0.5, 0.5, 0.0, 0.0, 0.0),
        (2, 2, 0): (4.0, 3.0, 0.5, 0.5, 0.0, 0.0), (2, 2, 1): (3.9, 1.0, 0.5, 0.5, 0.0, 1.9),
        (1, 0, 0): (6.0, 6.0, 0.0, 0.0, 0.0, 0.0), (1, 1, 0): (7.0, 7.0, 0.0, 0.0, 0.0, 0.0),
    })
    got = {d["procs"]: d for d in stats.phase_breakdown(df)}
    # P=2: repeat maxima 3, 5, 4 -> the median is repeat 2, where rank 0 computes longest
    assert (got[2]["repeat"], got[2]["rank"], got[2]["time_s"]) == (2, 0, 4.0)
    assert (got[2]["compute_s"], got[2]["wait_s"]) == (3.0, 0.0)
    assert sum(got[2][c] for c in stats.PHASE_COLUMNS) == pytest.approx(got[2]["time_s"])
    # P=1, two repeats: the lower of the two middle ones
    assert (got[1]["repeat"], got[1]["time_s"]) == (0, 6.0)
    med = {d["procs"]: d for d in stats.phase_breakdown(df, "median")}
    # P=2 compute: repeat means 1.5, 2.25, 2.0 -> median 2.0
    assert med[2]["compute_s"] == pytest.approx(2.0) and med[2]["rank"] == -1
    assert stats.phase_breakdown(df.iloc[0:0]) == []
    with pytest.raises(ValueError):
        stats.phase_breakdown(df, "mean")


def test_memory_per_rank_is_per_p_and_rank():
    df = ranks_table({(2, 0, 0): (1, 1, 0, 0, 0, 0), (2, 1, 0): (1, 1, 0, 0, 0, 0),
                      (2, 0, 1): (1, 1, 0, 0, 0, 0), (1, 0, 0): (1, 1, 0, 0, 0, 0)})
    got = stats.memory_per_rank(df)
    assert [(m["procs"], m["rank"], m["rss_peak_mb"]) for m in got] == [(1, 0, 50.0), (2, 0, 51.0), (2, 1, 51.0)]


def test_points_reads_the_summary_cells_back_typed():
    df = pd.DataFrame([
        {"procs": 2, "time_s": 1.5, "verified": "true", "oversubscribed": False,
         "mem_per_rank_mb": "52.5 51.25", "status": "ok", "reason": nan},
        {"procs": 1, "time_s": nan, "verified": False, "oversubscribed": "false",
         "mem_per_rank_mb": 40.0, "status": "failed", "reason": "timed out"},
    ])
    p1, p2 = stats.points(df)
    assert p1["procs"] == 1 and math.isnan(p1["time_s"]) and p1["mem_per_rank_mb"] == [40.0]
    assert p1["verified"] is False and p1["reason"] == "timed out"
    assert p2["verified"] is True and p2["oversubscribed"] is False
    assert p2["mem_per_rank_mb"] == [52.5, 51.25] and p2["reason"] == ""
    assert math.isnan(p2["speedup"])                 # a missing column is NaN
    assert [stats.point_kind(p) for p in (p1, p2)] == ["failed", "ok"]
    assert stats.point_kind({**p2, "oversubscribed": True}) == "oversubscribed"
    assert stats.point_kind({**p2, "verified": False}) == "unverified"


def test_baseline_is_the_one_add_scaling_uses():
    rows = [{"procs": 1, "time_s": 8.0, "status": "failed", "verified": False},
            {"procs": 2, "time_s": 4.0, "status": "ok", "verified": True},
            {"procs": 4, "time_s": 2.5, "status": "ok", "verified": True}]
    assert stats.baseline(rows) == (2, 4.0)
    scaled = stats.add_scaling(rows, "strong")
    p0, t0 = stats.baseline(rows)
    assert scaled[2]["speedup"] == pytest.approx(p0 * t0 / 2.5)
    assert stats.ideal_time("strong", 2, 4.0, 8) == 1.0
    assert stats.ideal_time("weak", 2, 4.0, 8) == 4.0
    assert stats.baseline(rows[:1]) is None


def test_sweep_context_names_workload_mpi_and_host_and_tolerates_gaps():
    m = {"workload": {"name": "fat", "batch": 80, "c_in": 3, "c_out": 3, "height": 1024,
                      "width": 1024, "kh": 3, "kw": 3, "stride_h": 1, "stride_w": 1, "pad_h": 0,
                      "pad_w": 0},
         "sweep": {"mode": "weak", "pass": "train", "data": "local", "repeats": 3},
         "mpi": {"library": "Open MPI v5.0.3, package: Open MPI builder, ident: 5.0.3\nmore",
                 "slots": 8},
         "environment": {"hostname": "n1", "cpu_model": "Xeon", "cores_available": 8}}
    c = stats.sweep_context(m, "sweep-1")
    assert c.title == "weak scaling: fat (batch 80 per rank, 3->3 ch, 1024x1024, K 3x3)"
    assert c.mpi == "Open MPI v5.0.3"
    assert "n1 (Xeon, 8 cores)" in c.caption and "train pass" in c.caption and "sweep-1" in c.caption
    bare = stats.sweep_context({})
    assert bare.mode == "?" and bare.workload == "?" and "?" in bare.caption
    assert stats.sweep_context({"sweep": {"mode": "run"}}).title.startswith("one point")
