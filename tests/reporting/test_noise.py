"""The noise flags of a point, on seeded synthetic samples with a known answer."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

from convbench.reporting import noise
from convbench.reporting.noise import point_flags


def lognormal(rng, n, cv=0.05, median=0.0225):
    return median * rng.lognormal(0.0, math.sqrt(math.log1p(cv * cv)), n)


def two_speeds(rng, n):
    """The machine of issue 13: 70% of the repeats at 22.5 ms, 30% at 33 ms, 2% noise each."""
    fast = round(0.7 * n)
    x = np.concatenate([0.0225 * (1 + 0.02 * rng.standard_normal(fast)),
                        0.033 * (1 + 0.02 * rng.standard_normal(n - fast))])
    return rng.permutation(x)


def as_launches(x, per_launch):
    return {k: x[i:i + per_launch] for k, i in enumerate(range(0, len(x), per_launch))}


def test_a_quiet_point_has_no_flags():
    rng = np.random.default_rng(0)
    launches = {k: lognormal(rng, 7, cv=0.02) for k in range(5)}
    ranks = {r: {k: lognormal(rng, 7, cv=0.02, median=0.02) for k in range(5)} for r in range(4)}
    assert point_flags(launches, ranks, others=[0.0, 0.1] * 2) == []


def test_no_samples_no_flags():
    assert point_flags({}) == []
    assert point_flags({0: np.array([])}, {}, ()) == []
    assert point_flags({0: np.array([np.nan, np.nan])}) == []


# -- the coefficient of variation --

def test_cv_above_ten_percent_is_flagged_with_its_value():
    x = np.array([1.0, 1.2, 0.8, 1.0, 1.3, 0.7])
    want = x.std(ddof=1) / x.mean()
    assert noise.cv(x) == pytest.approx(want)
    assert point_flags({0: x[:3], 1: x[3:]}) == [f"cv {round(100 * want)}%"]
    assert point_flags({0: np.array([1.0, 1.05, 0.95])}) == []


def test_cv_ignores_missing_repeats_and_keeps_the_rest():
    assert noise.cv([1.0, np.nan, 1.2, np.inf, 0.8]) == pytest.approx(noise.cv([1.0, 1.2, 0.8]))
    assert math.isnan(noise.cv([1.0]))


# -- the first repeat --

def test_a_slow_first_repeat_in_most_launches_says_warm_up_too_short():
    rng = np.random.default_rng(1)
    launches = {k: lognormal(rng, 5, cv=0.01, median=0.01) for k in range(3)}
    for k in (0, 2):
        launches[k][0] = 0.018
    flags = point_flags(launches)
    assert "first repeat 1.8x slower (warm-up too short)" in flags


def test_a_slow_first_repeat_in_a_minority_of_launches_is_not_flagged():
    rng = np.random.default_rng(2)
    launches = {k: lognormal(rng, 5, cv=0.01, median=0.01) for k in range(3)}
    launches[1][0] = 0.03
    assert not any(f.startswith("first repeat") for f in point_flags(launches))
    assert math.isnan(noise.first_repeat_ratio(launches))


def test_the_first_repeat_needs_two_repeats():
    assert math.isnan(noise.first_repeat_ratio({0: np.array([5.0]), 1: np.array([9.0])}))
    assert noise.first_repeat_ratio({0: np.array([2.0, 1.0])}) == pytest.approx(2.0)


# -- modes (calibration) --

@pytest.mark.parametrize("n", [10, 12, 20, 35, 100])
def test_two_speeds_are_two_modes_at_their_levels(n):
    rng = np.random.default_rng(n)
    for _ in range(20):
        levels = noise.modes(two_speeds(rng, n))
        assert len(levels) == 2, levels
        assert levels[0] == pytest.approx(0.0225, rel=0.06)
        assert levels[1] == pytest.approx(0.033, rel=0.06)
    flags = point_flags(as_launches(two_speeds(rng, n), 5))
    assert len([f for f in flags if MODES.fullmatch(f)]) == 1, flags


#: two levels near 22.5 and 33 ms
MODES = re.compile(r"2 modes \(2[23](\.\d)?, 3[234](\.\d)? ms\)")


def test_two_speeds_by_launch_are_two_modes():
    # every launch wholly at one speed: 3 fast launches and 2 slow ones of 7 repeats
    rng = np.random.default_rng(7)
    launches = {k: speed * (1 + 0.02 * rng.standard_normal(7))
                for k, speed in enumerate([0.0225, 0.033, 0.0225, 0.0225, 0.033])}
    assert any(MODES.fullmatch(f) for f in point_flags(launches))


@pytest.mark.parametrize("n", [10, 12, 20, 50, 100])
def test_a_unimodal_lognormal_is_one_mode_in_at_least_95_percent_of_trials(n):
    rng = np.random.default_rng(100 + n)
    trials = 200
    flagged = sum(len(noise.modes(lognormal(rng, n, cv=0.05))) >= 2 for _ in range(trials))
    assert flagged <= 0.05 * trials


def test_launches_that_differ_a_little_are_not_modes():
    # 5 launches x 7 repeats: launch medians spread by a CV of 5%, repeats by 1% within each
    rng = np.random.default_rng(9)
    trials = 100
    flagged = 0
    for _ in range(trials):
        launches = {k: m * (1 + 0.01 * rng.standard_normal(7)) for k, m in enumerate(lognormal(rng, 5))}
        flagged += any("modes" in f for f in point_flags(launches))
    assert flagged <= 0.10 * trials


def test_modes_need_enough_samples_and_an_outlier_is_not_a_mode():
    rng = np.random.default_rng(3)
    assert noise.modes(two_speeds(rng, noise.MODES_MIN_SAMPLES - 1)) == []
    x = lognormal(rng, 20)
    x[0] *= 1.6
    assert len(noise.modes(x)) == 1
    assert noise.modes(np.full(12, 0.02)) == [0.02]


def test_three_speeds_are_three_modes():
    rng = np.random.default_rng(4)
    x = np.concatenate([v * (1 + 0.01 * rng.standard_normal(10)) for v in (0.01, 0.02, 0.03)])
    assert [round(v, 3) for v in noise.modes(x)] == [0.01, 0.02, 0.03]


# -- unequal ranks --

def ranks_of(rng, slow: dict[int, float], launches=3, ranks=4):
    return {r: {k: lognormal(rng, 5, cv=0.02, median=0.01 * slow.get(r, 1.0)) for k in range(launches)}
            for r in range(ranks)}


def test_a_rank_slower_in_every_launch_is_flagged():
    rng = np.random.default_rng(5)
    flags = point_flags({0: lognormal(rng, 5, cv=0.01)}, ranks_of(rng, {3: 1.4}))
    assert flags == ["rank 3 1.4x slower than the median rank"]


def test_of_two_ranks_the_slower_is_compared_with_the_faster():
    rng = np.random.default_rng(6)
    assert noise.unequal_rank(ranks_of(rng, {0: 1.5}, ranks=2))[0] == 0
    assert noise.unequal_rank(ranks_of(rng, {0: 1.1}, ranks=2)) is None


def test_a_rank_slow_in_one_launch_of_three_is_not_flagged():
    rng = np.random.default_rng(8)
    ranks = ranks_of(rng, {})
    ranks[2][1] = ranks[2][1] * 2.0
    assert noise.unequal_rank(ranks) is None


def test_idle_ranks_do_not_make_the_others_look_slow():
    rng = np.random.default_rng(10)
    ranks = ranks_of(rng, {})
    ranks[4] = {k: np.zeros(5) for k in range(3)}
    ranks[5] = {k: np.zeros(5) for k in range(3)}
    assert noise.unequal_rank(ranks) is None


# -- a busy machine --

def test_flags_come_in_a_stable_order_and_change_no_sample():
    rng = np.random.default_rng(11)
    launches = {k: speed * (1 + 0.02 * rng.standard_normal(8))
                for k, speed in enumerate([0.0225, 0.033, 0.0225, 0.0225, 0.033])}
    for a in launches.values():
        a[0] *= 1.6
    before = {k: a.copy() for k, a in launches.items()}
    ranks = ranks_of(rng, {1: 1.5}, launches=4)
    flags = point_flags(launches, ranks, others=[0.0, 0.9, 0.0, 0.0])
    assert [f.split()[0] for f in flags] == ["cv", "first", "2", "rank", "other"]
    assert all(";" not in f for f in flags)
    assert all(np.array_equal(before[k], launches[k]) for k in launches)


def test_other_processes_during_launches_are_flagged_from_a_quarter_core():
    quiet = {r: np.array([1.0, 1.01, 0.99]) for r in range(5)}
    assert noise.point_flags(quiet, others=[0.0, 0.1, 0.2, float("nan")]) == []
    got = noise.point_flags(quiet, others=[0.0, 1.62, 0.3, 0.1])
    assert got == ["other processes used up to 1.6 core(s) during 2 launch(es)"]
