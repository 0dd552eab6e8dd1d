"""The statistics behind plot/report/compare, on hand-built tables."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from convbench.reporting import stats

nan = math.nan


def test_a_rows_interval_is_its_two_columns_or_none():
    r = {"time_s": 2.0, "time_lo_s": 1.9, "time_hi_s": 2.3, "speedup": 1.8, "speedup_lo": nan,
         "speedup_hi": 1.9, "efficiency": nan, "efficiency_lo": 0.8, "efficiency_hi": 0.9}
    assert stats.interval(r, "time_s") == (1.9, 2.3)
    assert all(math.isnan(x) for x in stats.interval(r, "speedup"))       # one end missing
    assert all(math.isnan(x) for x in stats.interval(r, "efficiency"))    # no value
    assert all(math.isnan(x) for x in stats.interval({"time_s": 1.0}, "time_s"))   # old sweep
    assert set(stats.INTERVAL_COLUMNS) == {"time_s", "speedup", "efficiency"}


def test_launches_and_the_reason_for_no_interval():
    assert stats.launches({"launches": 5, "time_s": 1.0}) == 5
    assert stats.launches({"launches": nan, "time_s": 1.0}) == 1          # schema 1-2: one
    assert stats.launches({"time_s": nan}) == 0                            # failed
    assert stats.interval_note({"ci_note": "too few samples: 2 launches, 3 needed",
                                "launches": 2}) == "too few samples: 2 launches, 3 needed"
    assert stats.interval_note({"ci_note": nan, "time_s": 1.0}) == "too few samples: 1 launch"
    assert stats.interval_note({"ci_note": "", "launches": 6, "time_s": 1.0}) == "no interval recorded"


def test_samples_text_says_launches_x_repeats_and_their_span():
    row = {"time_s": 1.0, "repeats": 3}
    assert stats.samples_text([{**row, "launches": 5}, {**row, "launches": 5}]) == "5 launches x 3 repeats"
    assert stats.samples_text([{**row, "launches": 3}, {**row, "launches": 8, "repeats": 2},
                               {"time_s": nan, "launches": 0, "repeats": 3}]) == "3-8 launches x 2-3 repeats"
    assert stats.samples_text([{"time_s": 1.0, "repeats": 1}]) == "1 launch x 1 repeat"
    assert stats.samples_text([{"time_s": nan}]) == ""


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
    assert "3 repeats" in c.caption and "launches" not in c.caption        # before launches
    m["sweep"].update(launches=5)
    assert "local data, 5 launches x 3 repeats; sweep-1" in stats.sweep_context(m, "sweep-1").caption
    m["sweep"].update(target_ci=5.0)
    assert "5 or more launches x 3 repeats" in stats.sweep_context(m).caption


def test_sweep_context_escapes_control_characters_in_names():
    m = {"workload": {"name": "w\x1b[31m"}, "sweep": {"mode": "strong\n"},
         "environment": {"hostname": "h\r\u202eost"}}
    c = stats.sweep_context(m, "dir\x07")
    assert c.workload == "w\\x1b[31m" and c.mode == "strong\\n" and c.name == "dir\\x07"
    assert "h\\r\\u202eost" in c.host and c.caption.isprintable() and c.title.isprintable()
