"""The small helpers every layer uses: int pairs, atomic writes, relative error."""
from __future__ import annotations

import math

import numpy as np
import pytest

from convbench.core.errors import ConvbenchError
from convbench.core.fsio import atomic_write
from convbench.core.numeric import rel_err
from convbench.core.parse import int_pair, strict_int


@pytest.mark.parametrize("value, pair", [(3, (3, 3)), ((2, 1), (2, 1)), ([0, 4], (0, 4)),
                                         (np.int64(5), (5, 5))])
def test_int_pair_accepts_an_int_or_two(value, pair):
    assert int_pair("stride", value) == pair


@pytest.mark.parametrize("value, needle", [
    (True, "stride must be an int, got bool"), (1.0, "stride must be an int, got float"),
    ("1", "stride must be an int, got str"), ((1, 2, 3), "an int or a pair (h, w), got 3 values"),
    ((1, False), "got bool"), (0, "stride must be >= 1, got 0"), ((1, -1), ">= 1, got (1, -1)"),
])
def test_int_pair_refuses_anything_else_with_the_callers_error(value, needle):
    with pytest.raises(KeyError) as info:
        int_pair("stride", value, minimum=1, error=KeyError)
    assert needle in str(info.value)
    with pytest.raises(ValueError):
        strict_int("n", np.bool_(True))


def test_atomic_write_replaces_the_file_or_says_why(tmp_path):
    f = tmp_path / "a.json"
    atomic_write(f, "one")
    atomic_write(f, "two")
    assert f.read_text() == "two" and [p.name for p in tmp_path.iterdir()] == ["a.json"]
    with pytest.raises(ConvbenchError, match="cannot write the cache"):
        atomic_write(tmp_path / "missing" / "b", "x", what="the cache")


def test_rel_err_is_relative_to_the_reference_and_fails_on_nan():
    assert rel_err([1.0, 2.1], [1.0, 2.0]) == pytest.approx(0.05)
    assert rel_err(np.zeros(0), np.zeros(0)) == 0.0
    assert math.isnan(rel_err([math.nan, 1.0], [1.0, 1.0]))
