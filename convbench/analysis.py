"""Scaling statistics as pure functions: computed once, here, and only formatted elsewhere.

Conventions (the baseline is the smallest P of the sweep that was measured and verified):
- strong: speedup S(P) = P0 * T(P0) / T(P); efficiency E = S / P.
- weak:   scaled speedup S(P) = P * T(P0) / T(P); efficiency E = T(P0) / T(P).
- Karp-Flatt experimentally determined serial fraction e = (1/S - 1/P) / (1 - 1/P), P > 1.
A point that failed or was not verified gets no speedup, efficiency or serial fraction.
"""
from __future__ import annotations

import math
import statistics
from typing import Iterable, Sequence


def median(values: Iterable[float]) -> float:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(vals) if vals else math.nan


def repeat_times(rank_times: Sequence[Sequence[float]]) -> list[float]:
    """The figure of each repeat: the maximum over ranks. rank_times[rank][repeat]."""
    if not rank_times:
        return []
    return [max(col) for col in zip(*rank_times)]


def speedup(mode: str, p0: int, t0: float, p: int, t: float) -> float:
    if not (t > 0 and t0 > 0):
        return math.nan
    if mode == "weak":
        return p * t0 / t
    return p0 * t0 / t


def efficiency(mode: str, p0: int, t0: float, p: int, t: float) -> float:
    if not (t > 0 and t0 > 0):
        return math.nan
    if mode == "weak":
        return t0 / t
    return speedup(mode, p0, t0, p, t) / p


def karp_flatt(s: float, p: int) -> float:
    """Serial fraction from a measured speedup s on p processes (NaN for p = 1)."""
    if p <= 1 or not (s > 0) or math.isnan(s):
        return math.nan
    return (1.0 / s - 1.0 / p) / (1.0 - 1.0 / p)


def add_scaling(rows: list[dict], mode: str) -> list[dict]:
    """Fill speedup, efficiency and karp_flatt in summary rows (each with procs, time_s,
    status, verified); returns new dicts. The baseline is the smallest good P."""
    good = [r for r in rows if r.get("status") == "ok" and r.get("verified")]
    # a single measured point ('convbench run') has nothing to scale against
    base = min(good, key=lambda r: r["procs"]) if good and mode != "run" else None
    out = []
    for r in rows:
        r = dict(r)
        if base is None or r not in good:
            r.update(speedup=math.nan, efficiency=math.nan, karp_flatt=math.nan)
        else:
            s = speedup(mode, base["procs"], base["time_s"], r["procs"], r["time_s"])
            r["speedup"] = s
            r["efficiency"] = efficiency(mode, base["procs"], base["time_s"], r["procs"], r["time_s"])
            # Karp-Flatt is defined for strong scaling against a one-process baseline
            r["karp_flatt"] = karp_flatt(s, r["procs"]) if mode != "weak" and base["procs"] == 1 else math.nan
        out.append(r)
    return out
