import math

import pytest

from convbench.reporting import stats


def row(p, t, status="ok", verified=True):
    return {"procs": p, "time_s": t, "status": status, "verified": verified}


def test_strong_speedup_efficiency_karp_flatt_by_hand():
    rows = stats.add_scaling([row(1, 8.0), row(2, 5.0), row(4, 3.0)], "strong")
    s2, s4 = 8 / 5, 8 / 3
    assert rows[1]["speedup"] == pytest.approx(s2)
    assert rows[2]["efficiency"] == pytest.approx(s4 / 4)
    # Karp-Flatt: e = (1/S - 1/P) / (1 - 1/P)
    assert rows[1]["karp_flatt"] == pytest.approx((1 / s2 - 1 / 2) / (1 - 1 / 2))
    assert rows[2]["karp_flatt"] == pytest.approx((1 / s4 - 1 / 4) / (1 - 1 / 4))
    assert math.isnan(rows[0]["karp_flatt"]) and rows[0]["speedup"] == 1.0


def test_weak_scaled_speedup_and_efficiency():
    rows = stats.add_scaling([row(1, 2.0), row(4, 2.5)], "weak")
    assert rows[1]["efficiency"] == pytest.approx(0.8)
    assert rows[1]["speedup"] == pytest.approx(4 * 0.8)
    assert math.isnan(rows[1]["karp_flatt"])


def test_failed_or_unverified_points_get_no_speedup_and_baseline_moves():
    rows = stats.add_scaling([row(1, 8.0, status="failed"), row(2, 4.0), row(4, 2.5, verified=False)],
                                "strong")
    assert math.isnan(rows[0]["speedup"]) and math.isnan(rows[2]["speedup"])
    assert rows[1]["speedup"] == pytest.approx(2.0)     # baseline P0 = 2: S = P0 * T0 / T
    assert math.isnan(rows[1]["karp_flatt"])            # needs a one-process baseline


def test_repeat_times_is_max_over_ranks_and_median():
    assert stats.repeat_times([[1.0, 3.0], [2.0, 1.0]]) == [2.0, 3.0]
    assert stats.median([3.0, 1.0, 2.0, math.nan]) == 2.0
    assert math.isnan(stats.median([]))


def test_roofline_columns_by_hand():
    roof = {"peak_gflops_1core": 80.0, "bandwidth_gbs_by_cores": {"1": 16.0, "2": 20.0}, "cores": 2}
    # memory bound on 2 cores: 4e9 bytes / 20 GB/s = 0.2 s > 1e9 FLOPs / 160 GFLOP/s
    c = stats.roofline_columns(0.4, 10.0, 1e9, 4e9, roof, cores=2)
    assert c["roofline_s"] == pytest.approx(0.2) and c["roofline_frac"] == pytest.approx(0.5)
    assert c["bw_frac"] == pytest.approx(0.5)
    # compute bound on 1 core; 8 cores use the largest measured bandwidth and 2 cores of peak
    assert stats.roofline_columns(1.0, 1.0, 8e10, 1e6, roof, cores=1)["roofline_s"] == pytest.approx(1.0)
    assert stats.roofline_columns(1.0, 1.0, 8e10, 1e6, roof, cores=8)["roofline_s"] == pytest.approx(0.5)
    assert math.isnan(stats.roofline_columns(math.nan, 1.0, 1, 1, roof, 1)["roofline_frac"])
