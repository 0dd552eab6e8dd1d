"""Numeric helpers shared by the ranks, the sweep and the kernel benchmark."""
from __future__ import annotations

import numpy as np


def rel_err(got, ref) -> float:
    """max |got - ref| / max |ref| over two arrays (or lists) of one shape; NaN-propagating,
    so a NaN anywhere fails a ``<= tolerance`` check; 0.0 for empty ones."""
    ref = np.asarray(ref, dtype=np.float64)
    scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, 1e-30)
    diff = np.abs(np.asarray(got, dtype=np.float64) - ref)
    return float(np.max(diff)) / scale if diff.size else 0.0
