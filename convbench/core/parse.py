"""Parsing small values given by a user or a caller, with one clear error for anything else."""
from __future__ import annotations

import numbers
import operator


def strict_int(name: str, value, error: type[Exception] = ValueError) -> int:
    """A Python or numpy integer as int; bools, floats and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise error(f"{name} must be an int, got {type(value).__name__} {value!r}")
    return operator.index(value)


def int_pair(name: str, value, *, minimum: int | None = None,
             error: type[Exception] = ValueError) -> tuple[int, int]:
    """An int or an (h, w) pair of ints -> (h, w), each >= minimum when one is given."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise error(f"{name} must be an int or a pair (h, w), got {len(value)} values")
        pair = (strict_int(name, value[0], error), strict_int(name, value[1], error))
    else:
        v = strict_int(name, value, error)
        pair = (v, v)
    if minimum is not None and min(pair) < minimum:
        raise error(f"{name} must be >= {minimum}, got {value!r}")
    return pair
