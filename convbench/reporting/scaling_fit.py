"""The fits of the scaling model (convbench.reporting.scaling): the communication
c(P) = latency + bytes / bandwidth, and Amdahl's or Gustafson's law on the time without it, by
weighted least squares with 1 standard error from the residuals. Pure functions, numbers only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from convbench.core.errors import UsageError


@dataclass(frozen=True)
class CommFit:
    """c(P) = latency_s + bytes / bandwidth_bps."""

    status: str              # fitted | none (no communication) | constant (bandwidth not
                             # determined) | measured (the ping-pong's, scaling_network.py)
    latency_s: float
    latency_se: float        # 1 standard error (NaN: not available)
    bandwidth_bps: float     # bytes per second; inf when c(P) does not depend on the bytes
    bandwidth_se: float
    points: int              # points the fit used
    note: str

    def time(self, nbytes: float) -> float:
        if self.status == "measured" and nbytes <= 0:
            return 0.0          # nothing to send: no message, no latency
        return self.latency_s + (0.0 if math.isinf(self.bandwidth_bps) else nbytes / self.bandwidth_bps)


@dataclass(frozen=True)
class ScalingFit:
    """Amdahl (strong) or Gustafson (weak) on the time without communication."""

    law: str                 # amdahl | gustafson
    serial_fraction: float   # s
    serial_fraction_se: float
    t1_s: float              # the modelled one-rank time without communication
    t1_se: float
    determined: bool         # s fitted (>= 2 distinct P), not assumed
    points: int
    note: str

    def time(self, procs: float) -> float:
        s, p = self.serial_fraction, float(procs)
        if self.law == "amdahl":
            return self.t1_s * (s + (1.0 - s) / p)
        return self.t1_s / (1.0 - s * (p - 1.0) / p)


# ---- least squares --------------------------------------------------------------------------------
def _lstsq(X, y, w):
    """Weighted least squares: coefficients, their covariance (NaN without spare points), and
    the weighted residuals."""
    X, y, w = np.asarray(X, float), np.asarray(y, float), np.asarray(w, float)
    Xw, yw = X * w[:, None], y * w
    coef, *_ = np.linalg.lstsq(Xw, yw, rcond=None)
    res = yw - Xw @ coef
    n, k = X.shape
    if n > k:
        sigma2 = float(res @ res) / (n - k)
        try:
            cov = sigma2 * np.linalg.inv(Xw.T @ Xw)
        except np.linalg.LinAlgError:
            cov = np.full((k, k), np.nan)
    else:
        cov = np.full((k, k), np.nan)
    return coef, cov, res


def _se(grad, cov) -> float:
    g = np.asarray(grad, float)
    v = float(g @ cov @ g)
    return math.sqrt(v) if v >= 0 else math.nan


def fit_comm(nbytes, comm) -> CommFit:
    """c = latency + bytes / bandwidth by least squares over the points with a comm time."""
    pairs = [(float(b), float(c)) for b, c in zip(nbytes, comm)
             if not (math.isnan(float(c)) or math.isnan(float(b)))]
    nan, inf = math.nan, math.inf
    if not pairs:
        return CommFit("none", 0.0, nan, inf, nan, 0, "no communication time recorded: c(P) = 0")
    if all(c == 0 for _, c in pairs) and all(b == 0 for b, _ in pairs):
        return CommFit("none", 0.0, nan, inf, nan, len(pairs),
                       "no communication (local data): c(P) = 0")
    b = np.array([p[0] for p in pairs])
    c = np.array([p[1] for p in pairs])

    def constant(why: str) -> CommFit:
        return CommFit("constant", float(c.mean()), nan, inf, nan, len(pairs),
                       f"{why}: latency and bandwidth not determined; c(P) is taken as the "
                       f"measured mean {c.mean():.3g} s at every P")

    if len(pairs) < 2 or len(set(b.tolist())) < 2:
        return constant(f"{len(pairs)} point(s) with a communication time and "
                        f"{len(set(b.tolist()))} distinct byte count(s)")
    coef, cov, _ = _lstsq(np.column_stack([np.ones_like(b), b]), c, np.ones_like(b))
    lat, beta = float(coef[0]), float(coef[1])
    if beta <= 0:
        return constant("the communication time does not grow with the bytes moved")
    note = f"fitted on {len(pairs)} points"
    if lat < 0:
        # a negative latency is noise around zero: refit through the origin
        coef, cov, _ = _lstsq(b[:, None], c, np.ones_like(b))
        beta, lat = float(coef[0]), 0.0
        cov = np.array([[nan, nan], [nan, cov[0, 0]]])
        note += "; the latency came out negative and is set to 0"
    lat_se = math.sqrt(cov[0, 0]) if cov[0, 0] >= 0 else nan
    beta_se = math.sqrt(cov[1, 1]) if cov[1, 1] >= 0 else nan
    if len(pairs) == 2:
        note += " (an exact fit: no uncertainty)"
    return CommFit("fitted", lat, lat_se, 1.0 / beta, beta_se / beta ** 2, len(pairs), note)


def fit_amdahl(procs, times, measured=None) -> ScalingFit:
    """T(P) = T1 (s + (1 - s) / P) on times (the time without communication) at procs;
    residuals relative to `measured` (default: times)."""
    p, y = np.asarray(procs, float), np.asarray(times, float)
    m = y if measured is None else np.asarray(measured, float)
    return _fit("amdahl", p, y, m)


def fit_gustafson(procs, times, measured=None) -> ScalingFit:
    """T(P) = T1 / (1 - s (P - 1) / P), i.e. efficiency T1 / T(P) = 1 - s (P - 1) / P."""
    p, y = np.asarray(procs, float), np.asarray(times, float)
    m = y if measured is None else np.asarray(measured, float)
    return _fit("gustafson", p, y, m)


def _fit(law: str, p, y, m) -> ScalingFit:
    nan = math.nan
    if len(p) == 0:
        raise UsageError("no point to fit")
    # the communication model may leave (almost) nothing of a point: keep the times positive
    y = np.maximum(y, 1e-3 * m)
    if len(set(p.tolist())) < 2:
        t1 = float(y[0] * p[0]) if law == "amdahl" else float(y[0])
        return ScalingFit(law, 0.0, nan, t1, nan, False, len(p),
                          "assumed: one P cannot determine s (ideal scaling)")
    if law == "amdahl":
        # y = A + B / P with A = T1 s, B = T1 (1 - s); relative residuals: weight 1 / measured
        X, target, w = np.column_stack([np.ones_like(p), 1.0 / p]), y, 1.0 / m
    else:
        # 1 / y = a - b q, q = (P - 1) / P, a = 1 / T1, b = s / T1; (y - model) / m is about
        # (1/model - 1/y) y^2 / m: weight y^2 / m
        X, target, w = np.column_stack([np.ones_like(p), -(p - 1.0) / p]), 1.0 / y, y * y / m
    coef, cov, _ = _lstsq(X, target, w)
    if law == "amdahl":
        A, B = float(coef[0]), float(coef[1])
        t1 = A + B
        s = A / t1 if t1 > 0 else nan
        grad_s = [B / t1 ** 2, -A / t1 ** 2] if t1 > 0 else [nan, nan]
        grad_t = [1.0, 1.0]
    else:
        a, b = float(coef[0]), float(coef[1])
        t1 = 1.0 / a if a > 0 else nan
        s = b / a if a > 0 else nan
        grad_s = [-b / a ** 2, 1.0 / a] if a > 0 else [nan, nan]
        grad_t = [-1.0 / a ** 2, 0.0] if a > 0 else [nan, nan]
    note = f"fitted on {len(p)} points"
    if len(p) == 2:
        note += " (two P: the curve passes through both; no uncertainty)"
    if not (s >= 0 and s <= 1):                 # also NaN
        if math.isnan(s):                       # no finite T1: the better of the two bounds
            bound = min((0.0, 1.0), key=lambda b: _bound_rss(law, b, p, y, m))
        else:
            bound = 0.0 if s < 0 else 1.0
        t1 = _fit_at_bound(law, bound, p, y, m)
        why = ("superlinear: faster than ideal scaling" if bound == 0.0
               else "the time does not fall with P as the law allows")
        return ScalingFit(law, bound, nan, t1, nan, True, len(p),
                          f"{note}; s came out {s:.3g} ({why}), so it is held at {bound:g}")
    return ScalingFit(law, s, _se(grad_s, cov), t1, _se(grad_t, cov), True, len(p), note)


def _shape(law: str, s: float, p):
    return (s + (1 - s) / p) if law == "amdahl" else 1.0 / (1.0 - s * (p - 1.0) / p)


def _fit_at_bound(law: str, s: float, p, y, m) -> float:
    """T1 with s fixed: y = T1 g(P), least squares relative to m (one parameter)."""
    gw, yw = _shape(law, s, p) / m, y / m
    return float(gw @ yw / (gw @ gw))


def _bound_rss(law: str, s: float, p, y, m) -> float:
    r = (y - _fit_at_bound(law, s, p, y, m) * _shape(law, s, p)) / m
    return float(r @ r)


# ---- the whole model: the fits in order, and what it predicts ----------------------------------
def fit_model(mode: str, procs, nbytes, times, comms, network: CommFit | None = None
              ) -> tuple[ScalingFit, CommFit]:
    """c(P) (the given network, else fitted on comms against nbytes), then the law (Amdahl for
    strong, Gustafson for weak) on times - c(P), relative to the measured times. The one
    sequence both the model of a sweep and each of its bootstrap replicates fit."""
    comm = network if network is not None else fit_comm(nbytes, comms)
    rest = [float(t) - comm.time(b) for t, b in zip(times, nbytes)]
    law = fit_amdahl if mode == "strong" else fit_gustafson
    return law(procs, rest, times), comm


def predict(mode: str, scaling: ScalingFit, comm: CommFit, procs: int, nbytes: float,
            t_one: float) -> tuple[float, float, float]:
    """(time, speedup, efficiency) of the model at P moving nbytes; t_one: its time at P = 1.
    Strong: S = T(1) / T(P), E = S / P; weak: scaled S = P T(1) / T(P), E = T(1) / T(P)."""
    t = scaling.time(procs) + comm.time(nbytes)
    if not t > 0:
        return t, math.nan, math.nan
    if mode == "strong":
        return t, t_one / t, t_one / t / procs
    return t, procs * t_one / t, t_one / t
