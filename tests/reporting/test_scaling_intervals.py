"""`convbench model`'s intervals: the model refitted on bootstrap replicates of the sweep's
launches (convbench.reporting.scaling_intervals), calibrated on samples from a known law."""
from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pandas as pd
import pytest

from conftest import invoke
from handmade import build, point, synthetic
from convbench.reporting import scaling as model
from convbench.reporting import scaling_intervals as si
from convbench.reporting import scaling_table
from convbench.reporting.stats import sweep_context
from convbench.results import store

NONE = model.CommFit("none", 0.0, math.nan, math.inf, math.nan, 0, "")
PROCS = (1, 2, 4, 8)
S, T1 = 0.1, 4.0                 # T(P) = a + b / P with a = T1 s, b = T1 (1 - s)


def law_samples(rng, rounds: int, repeats: int = 5, sigma: float = 0.03, tau: float = 0.05):
    """Samples (procs -> round -> repeats) of T(P) = T1 (s + (1 - s) / P) times lognormal
    noise: a slow or fast round (shared by every P), each launch's own level, each repeat's
    jitter; every factor has median 1, so the true median time is the law's."""
    out: dict = {}
    for r in range(rounds):
        shared = tau * rng.standard_normal()
        for p in PROCS:
            level = shared + tau * rng.standard_normal()
            out.setdefault(p, {})[r] = (T1 * (S + (1 - S) / p)
                                        * np.exp(level + sigma * rng.standard_normal(repeats)))
    return out


def intervals(samples, seed: int, resamples: int = 199) -> si.Intervals:
    return si.bootstrap("strong", PROCS, [0.0] * 4, samples, None, NONE, PROCS, [0.0] * 4, 0.0,
                        resamples=resamples, seed=seed)


# ---- calibration: the intervals cover the law's parameters -------------------------------------
def test_the_95_percent_intervals_cover_the_true_parameters():
    n, cover_s, cover_t1 = 100, 0, 0
    for k in range(n):
        iv = intervals(law_samples(np.random.default_rng(k), rounds=8), seed=k)
        assert iv.ok and iv.launches == 8 and iv.resamples == 199
        cover_s += iv.serial_fraction.lo <= S <= iv.serial_fraction.hi
        cover_t1 += iv.t1_s.lo <= T1 <= iv.t1_s.hi
    assert cover_s >= 85 and cover_t1 >= 85, (cover_s, cover_t1)
    assert cover_s < 100 or cover_t1 < 100          # intervals, not the whole line


def test_more_rounds_give_narrower_intervals():
    def mean_width(rounds):
        ivs = [intervals(law_samples(np.random.default_rng(100 + k), rounds), seed=k)
               for k in range(15)]
        return (np.mean([iv.serial_fraction.hi - iv.serial_fraction.lo for iv in ivs]),
                np.mean([iv.t1_s.hi - iv.t1_s.lo for iv in ivs]))
    few, many = mean_width(5), mean_width(20)
    assert many[0] < 0.8 * few[0] and many[1] < 0.8 * few[1], (few, many)


def test_the_predictions_have_intervals_around_the_law_and_are_seeded():
    smp = law_samples(np.random.default_rng(7), rounds=8)
    iv = intervals(smp, seed=3)
    assert iv == intervals(smp, seed=3)             # deterministic
    for p, t, sp, e in zip(PROCS, iv.time_s, iv.speedup, iv.efficiency):
        assert t.lo < T1 * (S + (1 - S) / p) < t.hi
        assert sp.lo <= 1 / (S + (1 - S) / p) <= sp.hi or p == 1
        assert e.lo <= e.hi <= 1.0 + 1e-9
    assert iv.speedup[0].lo == pytest.approx(1.0) and iv.speedup[0].hi == pytest.approx(1.0)


def test_too_few_rounds_give_no_interval():
    smp = law_samples(np.random.default_rng(1), rounds=2)
    iv = intervals(smp, seed=0)
    assert not iv.ok and iv.note.startswith("too few launches for intervals")
    assert not iv.serial_fraction.ok and iv.time_s == ()
    # the rounds every fitted P ran in count: P = 8 missing from round 2 leaves 2
    three = law_samples(np.random.default_rng(1), rounds=3)
    del three[8][2]
    assert intervals(three, seed=0).note.startswith("too few launches for intervals: 2 round")


# ---- the model of a sweep on disk ------------------------------------------------------------
def in_rounds(d, rounds: int, repeats: int = 3, **kw):
    """handmade.synthetic with rounds x repeats repeats per P, relabelled as `rounds` launches
    of `repeats` repeats each (ranks.csv's launch, round, position)."""
    synthetic(d, repeats=rounds * repeats, **kw)
    ranks = pd.read_csv(d / store.RANKS)
    ranks["round"] = ranks["launch"] = ranks["repeat"] // repeats
    ranks["position"] = ranks["round"] * len(set(ranks["procs"]))
    ranks["repeat"] = ranks["repeat"] % repeats
    ranks.to_csv(d / store.RANKS, index=False)
    return d


def test_build_refits_on_the_launches_of_a_sweep(tmp_path):
    d = in_rounds(tmp_path / "s", rounds=6, s=0.05, t1=10.0, noise=0.01, seed=4)
    m = model.build(store.load(d), procs=(16,))
    iv = m.intervals
    assert iv.ok and iv.launches == 6 and iv.resamples == si.RESAMPLES
    assert iv.serial_fraction.lo <= m.scaling.serial_fraction <= iv.serial_fraction.hi
    assert iv.t1_s.lo <= m.scaling.t1_s <= iv.t1_s.hi
    for r in m.rows:
        assert r.model_time_lo_s <= r.model_time_s <= r.model_time_hi_s
        assert r.model_efficiency_lo <= r.model_efficiency <= r.model_efficiency_hi
    assert m.rows[-1].procs == 16 and m.rows[-1].model_time_hi_s > m.rows[-1].model_time_lo_s
    assert any(n.startswith("Intervals: 95% percentile intervals of 999 bootstrap replicates "
                            "over the 6 rounds") for n in m.notes)
    assert model.build(store.load(d), procs=(16,)) == m      # seeded


def test_the_communication_is_refitted_in_every_replicate(tmp_path):
    d = in_rounds(tmp_path / "c", rounds=5, data="scatter", latency=1e-3, bandwidth=1e8,
                  s=0.05, procs=(1, 2, 4, 8, 16), noise=0.003, seed=3)
    ranks = pd.read_csv(d / store.RANKS)      # each launch its own communication time
    ranks["comm_s"] *= 1 + 0.02 * np.random.default_rng(0).standard_normal(len(ranks))
    ranks.to_csv(d / store.RANKS, index=False)
    m = model.build(store.load(d))
    iv = m.intervals
    assert m.comm.status == "fitted" and iv.ok
    assert iv.latency_s.lo < iv.latency_s.hi and iv.bandwidth_bps.lo < iv.bandwidth_bps.hi
    assert iv.bandwidth_bps.lo < 1e8 * 1.1 and iv.bandwidth_bps.hi > 1e8 * 0.9


def test_one_launch_per_point_says_so_and_shows_the_point_fit(tmp_path):
    d = synthetic(tmp_path / "old", s=0.05, t1=10.0, noise=0.01, seed=1)   # no round column
    sweep = store.load(d)
    m = model.build(sweep)
    assert not m.intervals.ok and m.scaling.serial_fraction == pytest.approx(0.05, rel=0.3)
    assert all(math.isnan(r.model_time_lo_s) for r in m.rows)
    md = scaling_table.render_model(m, sweep_context(sweep.manifest, d.name))
    assert "| serial fraction s | 0.0" in md and "too few launches for intervals |" in md
    assert "No intervals: too few launches for intervals: 1 round(s)" in md
    js = json.loads(scaling_table.render_model(m, sweep_context(sweep.manifest, d.name), "json"))
    assert js["model"]["serial_fraction_lo"] is None and js["model"]["interval_launches"] == 0
    assert js["model"]["interval_note"].startswith("too few launches")


def test_the_exporters_show_the_intervals(tmp_path):
    d = in_rounds(tmp_path / "s", rounds=5, s=0.05, t1=10.0, noise=0.01, seed=2)
    sweep = store.load(d)
    m = model.build(sweep, procs=(32,))
    ctx = sweep_context(sweep.manifest, d.name)
    md = scaling_table.render_model(m, ctx)
    assert "| Parameter | Value | 95% interval | Note |" in md
    lo, hi = m.intervals.serial_fraction.lo, m.intervals.serial_fraction.hi
    assert f"| serial fraction s | {m.scaling.serial_fraction:.3g} | [{lo:.3g}, {hi:.3g}] |" in md
    rows = list(csv.DictReader(io.StringIO(scaling_table.render_model(m, ctx, "csv"))))
    r32 = rows[-1]
    assert r32["procs"] == "32"
    assert float(r32["model_speedup_lo"]) <= float(r32["model_speedup"]) <= float(
        r32["model_speedup_hi"])
    js = json.loads(scaling_table.render_model(m, ctx, "json"))
    assert js["model"]["serial_fraction_lo"] == pytest.approx(lo)
    assert js["model"]["interval_launches"] == 5


def test_the_command_on_a_sweep_of_4_points_and_5_rounds(tmp_path):
    d = in_rounds(tmp_path / "s", rounds=5, repeats=5, s=0.05, t1=10.0, noise=0.01, seed=5)
    out = invoke("model", str(d))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Intervals: 95% percentile intervals" in out.stdout and "over the 5 rounds" in out.stdout


def test_a_failed_point_in_a_round_leaves_the_other_rounds(tmp_path):
    """Only the fitted points' rounds matter: a P that is not fitted does not reduce them."""
    d = in_rounds(tmp_path / "s", rounds=5, s=0.05, noise=0.01, seed=6)
    pts = pd.read_csv(d / store.SUMMARY)
    pts.loc[pts["procs"] == 8, "verified"] = False
    pts.to_csv(d / store.SUMMARY, index=False)
    ranks = pd.read_csv(d / store.RANKS)
    ranks = ranks[~((ranks["procs"] == 8) & (ranks["round"] > 0))]
    ranks.to_csv(d / store.RANKS, index=False)
    m = model.build(store.load(d))
    assert m.scaling.points == 3 and m.intervals.ok and m.intervals.launches == 5


def test_build_point_only_sweep(tmp_path):
    one = model.build(store.load(build(tmp_path / "one", [point(1, [2.0, 2.1])], data="local")))
    assert not one.intervals.ok and "too few launches" in one.intervals.note
