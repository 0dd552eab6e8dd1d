"""The set-up helpers of a rank: buffers written by several threads."""
from __future__ import annotations

import numpy as np
import pytest

from convbench.rank import setup


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("shape", [(0, 3), (2, 3, 5), (3, 1 << 21)])
def test_filled_writes_every_element(shape, threads):
    a = setup.filled(shape, np.nan, threads)
    assert a.shape == shape and a.dtype == np.float32 and np.isnan(a).all()
    b = setup.filled(shape, 0.0, threads)
    assert not b.any()


def test_cores_is_positive():
    assert setup.cores() >= 1


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_row_sums_are_numpys_whatever_the_threads(threads):
    a = np.random.default_rng(0).standard_normal((5, 2, 3, 70)).astype(np.float32)
    np.testing.assert_array_equal(setup.row_sums(a, threads), a.sum(axis=3, dtype=np.float64))
    assert setup.row_sums(a[:0], threads).shape == (0, 2, 3)
