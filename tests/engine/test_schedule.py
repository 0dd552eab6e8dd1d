"""The order of a sweep's launches (engine/schedule.py): pure, seeded, complete."""
from __future__ import annotations

from collections import Counter

import pytest

from convbench.engine import schedule

PROCS = (1, 2, 4, 8)


@pytest.mark.parametrize("order", ["rounds", "random", "sequential"])
def test_every_p_gets_every_launch_once_numbered_in_time_order(order):
    slots = schedule.slots(PROCS, 5, order, seed=3)
    assert Counter(s.procs for s in slots) == {p: 5 for p in PROCS}
    assert [s.position for s in slots] == list(range(len(slots)))
    for p in PROCS:
        mine = [s for s in slots if s.procs == p]
        assert [s.launch for s in mine] == list(range(5))       # numbered as they come
        assert [s.round for s in mine] == list(range(5))


def test_rounds_launch_every_p_once_per_round_in_a_seeded_random_order():
    slots = schedule.slots(PROCS, 6, "rounds", seed=11)
    rounds = [[s.procs for s in slots if s.round == r] for r in range(6)]
    assert all(sorted(r) == list(PROCS) for r in rounds)
    assert len({tuple(r) for r in rounds}) > 1                  # the order changes by round
    # each round is contiguous: a round ends before the next begins
    assert [s.round for s in slots] == sorted(s.round for s in slots)
    assert schedule.slots(PROCS, 6, "rounds", seed=11) == slots  # same seed, same order
    assert schedule.slots(PROCS, 6, "rounds", seed=12) != slots


def test_sequential_is_ascending_and_random_mixes_ps():
    seq = schedule.slots(PROCS, 3, "sequential", seed=0)
    assert [s.procs for s in seq] == [1, 1, 1, 2, 2, 2, 4, 4, 4, 8, 8, 8]
    rnd = schedule.slots(PROCS, 3, "random", seed=5)
    assert [s.procs for s in rnd] != [s.procs for s in seq]


def test_the_first_rounds_do_not_depend_on_how_many_follow():
    """A resume (or a longer sweep) with the same seed finds the same first rounds."""
    short = schedule.slots(PROCS, 2, "rounds", seed=4)
    long = schedule.slots(PROCS, 5, "rounds", seed=4)
    assert long[:len(short)] == short


def test_an_extra_round_pairs_the_wide_points_with_the_base():
    got = schedule.extra_round([4, 8], 1, 5, {1: 5, 2: 5, 4: 5, 8: 7}, 20, seed=2)
    assert sorted(s.procs for s in got) == [1, 4, 8]
    assert {s.round for s in got} == {5}
    assert {s.procs: s.launch for s in got} == {1: 5, 4: 5, 8: 7}
    assert sorted(s.position for s in got) == [20, 21, 22]
    # the base alone (only its own interval is wide) is a round of one
    assert [s.procs for s in schedule.extra_round([1], 1, 6, {1: 6}, 30, seed=2)] == [1]


def test_unknown_order_is_refused():
    with pytest.raises(ValueError):
        schedule.slots(PROCS, 1, "shuffled", seed=0)
