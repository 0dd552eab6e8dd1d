import pytest
from hypothesis import given, strategies as st

from convbench.workload import partition


@given(st.integers(0, 10_000), st.integers(1, 64))
def test_counts_cover_batch_and_differ_by_at_most_one(batch, procs):
    c = partition.counts(batch, procs)
    assert len(c) == procs and sum(c) == batch
    assert max(c) - min(c) <= 1
    d = partition.displacements(c)
    ranges = [(d[r], d[r] + c[r]) for r in range(procs)]
    assert partition.check_coverage(ranges, batch) is None
    assert [partition.shard(batch, procs, r) for r in range(procs)] == ranges


@pytest.mark.parametrize("batch,procs,expected", [
    (7, 4, [2, 2, 2, 1]), (3, 4, [1, 1, 1, 0]), (80, 8, [10] * 8), (0, 2, [0, 0]),
])
def test_remainders_spread_over_first_ranks(batch, procs, expected):
    assert partition.counts(batch, procs) == expected


def test_coverage_names_gaps_and_overlaps():
    # the original report's bug: each rank took a quarter of its share
    assert "computed by no rank" in partition.check_coverage([(0, 5), (20, 25)], 40)
    assert "more than one rank" in partition.check_coverage([(0, 6), (5, 10)], 10)
    assert "no rank" in partition.check_coverage([(0, 5)], 10)
    assert "outside" in partition.check_coverage([(0, 12)], 10)
    assert partition.check_coverage([(0, 0), (0, 10), (10, 10)], 10) is None


def test_bad_split_is_refused():
    with pytest.raises(ValueError):
        partition.counts(5, 0)
