"""convbench kernels' ratios and their 95% intervals (reporting/kernel_ratios.py): tiny real
runs of the kernel, the pairing of interleaved repeats, the sweep's rules (uncertainty.py:
expanded level, 5 pairs at least) and the coverage of the interval at 5 pairs."""
from __future__ import annotations

import math

import numpy as np
import pytest

from convbench.kernel import bench as kb
from convbench.reporting import kernel_ratios, kernel_table, uncertainty

FAKE_ROOF = {"peak_gflops_1core": 50.0, "bandwidth_gbs_by_cores": {1: 10.0, 2: 16.0},
             "measured_at": "2025-01-01T00:00:00+00:00", "cores": 2, "matmul_n": 64,
             "stream_mb": 1}


def test_the_rules_are_the_sweeps():
    """One definition: the confidence, the fewest pairs and the expanded level are
    uncertainty's; 5 pairs get a wider level than the nominal 95%."""
    assert kernel_ratios.CONFIDENCE == uncertainty.CONFIDENCE == 0.95
    assert kernel_ratios.MIN_PAIRS == uncertainty.MIN_LAUNCHES == 5
    assert uncertainty.level(5) > 0.99


def test_every_ratio_has_its_interval_from_a_real_run():
    """A tiny real run: the fraction of the bound, the time against convbench and the speedup
    over one thread, each a ratio of medians inside its 95% interval."""
    wl = kb.parse_shape("mb2ic3ih40oc4kh3ph1")
    rows = kb.run(wl, "forward", impls=("naive", "stream"), threads=(1, 2), repeats=5,
                  roof={**FAKE_ROOF, "cpu_model": "x"}, shape_name="tiny")
    by = {(r.impl, r.threads): r for r in rows}
    got = dict(zip([(r.impl, r.threads) for r in rows], kernel_ratios.ratios(rows)))
    for key, rr in got.items():
        r = by[key]
        assert rr.of_bound.ok and rr.of_bound.pairs == 5
        assert rr.of_bound.lo <= r.roofline <= rr.of_bound.hi
        assert rr.of_bound.value == pytest.approx(r.roofline)
    naive = got[("naive", 1)].vs_convbench
    assert naive.ok and naive.value == pytest.approx(by[("naive", 1)].median_s
                                                     / by[("convbench", 1)].median_s)
    assert naive.lo <= naive.value <= naive.hi and naive.value > 1      # the textbook loops
    two = got[("convbench", 2)].vs_one_thread
    assert two.ok and two.value == pytest.approx(by[("convbench", 1)].median_s
                                                 / by[("convbench", 2)].median_s)
    assert got[("convbench", 1)].vs_convbench.value == 1.0
    assert math.isnan(got[("convbench", 1)].vs_one_thread.value)        # nothing to compare
    assert kernel_ratios.ratios(rows) == list(got.values())              # seeded
    text = " ".join(str(c) for col in kernel_table.table(rows).columns for c in col._cells)
    assert f"{naive.value:.2f}x\n[{naive.lo:.2f}, {naive.hi:.2f}]" in text


def test_the_repeats_are_paired_by_position():
    """Interleaved repeats share the machine's moment: B = 1.2 A in every round while the
    machine drifts 2x. Paired, the interval is [1.2, 1.2]; the medians alone would not say."""
    drift = [1.0, 1.5, 2.0, 1.2, 1.8, 1.1]
    r = kernel_ratios.ratio(drift, [1.2 * d for d in drift])
    assert r.ok and r.pairs == 6
    assert (r.lo, r.value, r.hi) == pytest.approx((1.2, 1.2, 1.2))
    shifted = kernel_ratios.ratio(drift, [1.2 * d for d in drift[1:] + drift[:1]])
    assert shifted.hi - shifted.lo > 0.3                 # out of step: the drift is noise
    uneven = kernel_ratios.ratio(drift, [1.0, 2.0, 3.0])  # a row cut short by the budget
    assert uneven.pairs == 3 and not uneven.ok


def test_too_few_repeats_say_so():
    wl = kb.parse_shape("mb1ic2ih16oc2kh3")
    rows = kb.run(wl, "forward", impls=("naive",), threads=(1, 2), repeats=3,
                  roof={**FAKE_ROOF, "cpu_model": "x"})
    rr = kernel_ratios.ratios(rows)
    assert all(not x.of_bound.ok for x in rr)
    assert rr[0].of_bound.note == "too few repeats for an interval: 3, 5 needed"
    assert rr[1].vs_one_thread.note == "too few pairs for an interval: 3, 5 needed"
    cells = [c for col in kernel_table.table(rows).columns for c in col._cells]
    assert any(c.endswith("\n(too few repeats)") for c in cells)
    assert any(c.endswith("x\n(too few pairs)") for c in cells)


def test_the_csv_keeps_the_repeats_and_the_intervals(tmp_path):
    wl = kb.parse_shape("mb1ic2ih16oc2kh3")
    rows = kb.run(wl, "forward", impls=("naive",), threads=(1,), repeats=5,
                  roof={**FAKE_ROOF, "cpu_model": "x"})
    path = kernel_table.to_csv(rows, tmp_path / "k.csv")
    import csv
    written = list(csv.DictReader(open(path)))
    rr = kernel_ratios.ratios(rows)
    assert float(written[1]["vs_convbench_lo"]) == pytest.approx(rr[1].vs_convbench.lo, abs=1e-4)
    assert float(written[0]["roofline_hi"]) == pytest.approx(rr[0].of_bound.hi, abs=1e-4)
    assert written[0]["vs_1thread"] == "" and written[0]["ci_note"] == ""
    back = kernel_table.read_csv(path)
    for a, b in zip(rows, back):
        assert b.times_s == pytest.approx(a.times_s, rel=1e-5)
    assert kernel_ratios.ratios(back)[1].vs_convbench.lo == pytest.approx(
        rr[1].vs_convbench.lo, rel=1e-3)


def test_the_interval_covers_the_true_ratio_at_5_pairs():
    """Calibration (seeded, 1000 simulated runs of 5 interleaved repeats): A and B are
    lognormal with a CV of 5% around 20 ms and 26 ms, each pair slowed by the same drift of
    the machine (lognormal, sigma 0.2: four times the noise). The interval of the ratio of
    medians covers the true 1.3 in 90-99% of the runs (93%: at 5 pairs it spans about the
    smallest to the largest pair's ratio, 1 - 2 / 2^5), and pairing keeps it about as narrow as
    the noise allows: a median width under 25% (unpaired, the drift makes it about 95% wide
    and it covers every time)."""
    rng = np.random.default_rng(20261130)
    sigma = math.sqrt(math.log(1 + 0.05 ** 2))
    true, hits, widths = 1.3, 0, []
    for _ in range(1000):
        drift = rng.lognormal(0.0, 0.2, 5)
        a = 0.020 * drift * rng.lognormal(0.0, sigma, 5)
        b = 0.020 * true * drift * rng.lognormal(0.0, sigma, 5)
        r = kernel_ratios.ratio(list(a), list(b))
        assert r.ok and r.pairs == 5
        hits += r.lo <= true <= r.hi
        widths.append((r.hi - r.lo) / r.value)
    assert 0.90 <= hits / 1000 <= 0.99, hits
    assert np.median(widths) < 0.25
