"""The scaling figures of one sweep or several of the same mode and workload (--overlay):
time, speedup and efficiency vs P, and the two main panels side by side.

- strong: time vs P (log-log) with the ideal T(P0) P0 / P; speedup vs P with the ideal S = P;
  parallel efficiency vs P with the ideal 100 %; all with error bars that are the 95%
  confidence interval of summary.csv (time_lo_s/time_hi_s, speedup_lo/_hi, efficiency_lo/_hi;
  asymmetric); a point without an interval (too few launches) has no bar, and the legend and
  the caption say so; the caption says how many launches x repeats the points pool;
- weak: time vs P with the ideal flat T(P0); weak-scaling efficiency T(P0) / T(P);
- scaling: strong speedup and efficiency; weak time and efficiency.

One sweep's panels also draw its fitted scaling model (scaling.py: Amdahl for strong,
Gustafson for weak, plus communication) as a dashed curve a little beyond the largest P, where
its serial fraction could be fitted (two or more usable P); where the manifest records the
measured network ('convbench machine'), both models: the one with the network fitted to the sweep
(dashed) and the one with the measured latency and bandwidth (dotted). Oversubscribed points are hollow,
unverified ones grey squares, failed ones red crosses on the P axis; the legend says so.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, PercentFormatter

from convbench.core.errors import ConvbenchError, UsageError
from convbench.reporting import scaling as scaling_model
from convbench.reporting import stats
from convbench.reporting.figures_frame import (FAILED_COLOR, IDEAL_STYLE, MODEL_STYLE, finish,
                                               frame, new_figure, p_axis)
from convbench.results import store as results

#: the model with the measured network: dotted, beside the fitted model's dashes
MEASURED_STYLE = dict(MODEL_STYLE, color="C2", linestyle=":", linewidth=1.8)


@dataclass(frozen=True)
class Series:
    """One sweep as the scaling panels draw it."""

    label: str
    mode: str
    rows: tuple          # stats.points(summary)
    slots: str
    model: object = None  # model.Model fitted to the sweep where s was fitted, else None
    measured: object = None  # the same with the measured network, where the manifest has one


def fitted_model(sweep: results.Sweep, network: str | None = "fit"):
    """The scaling model of a sweep (model.build) where its serial fraction could be fitted
    (two or more usable P); None otherwise, or where the sweep cannot be modelled (network
    measured: also where the manifest records no measured network)."""
    try:
        m = scaling_model.build(sweep, procs=(), network=network, intervals=False)
    except (ConvbenchError, ValueError, ArithmeticError):
        return None
    return m if m.scaling.determined else None


def model_label(m) -> str:
    law = {"amdahl": "Amdahl", "gustafson": "Gustafson"}.get(m.scaling.law, m.scaling.law)
    comm = ("" if m.comm.status == "none" else
            " + measured network" if m.network == "measured" else " + communication")
    return f"model: {law}, s = {m.scaling.serial_fraction:.3g}{comm}"


def _series(sweep: results.Sweep, label: str | None = None) -> Series:
    results.require(sweep, results.SUMMARY, ("time_s", "time_min_s", "time_max_s", "speedup",
                                             "efficiency", "status", "verified", "oversubscribed"))
    ctx = stats.sweep_context(sweep.manifest, sweep.path.name)
    modelled = ctx.mode in scaling_model.LAWS
    measured = fitted_model(sweep, "measured") if modelled and sweep.manifest.get("network") else None
    return Series(label or ctx.name, ctx.mode, tuple(stats.points(sweep.summary)), ctx.slots,
                  fitted_model(sweep) if modelled else None,
                  measured if measured is not None and measured.network == "measured" else None)



def _all_procs(series: list[Series]) -> list[int]:
    return sorted({r["procs"] for s in series for r in s.rows})


# ---- the scaling panels ---------------------------------------------------------------------
def _draw_series(ax, series: list[Series], value: str) -> set[str]:
    """Line + 95% interval bars per series (stats.interval; none where a point has no
    interval); markers by point kind; failed points on the P axis. value: time_s, speedup or
    efficiency. Returns the kinds drawn ('bar' / 'nointerval': a point with / without a bar)."""
    kinds = set()
    for i, s in enumerate(series):
        color = f"C{i}" if len(series) > 1 else "C0"
        pts = [r for r in s.rows if not math.isnan(r[value])]
        xs = [r["procs"] for r in pts]
        ys = [r[value] for r in pts]
        ax.plot(xs, ys, "-", color=color, linewidth=1.5, label=s.label if len(series) > 1 else None)
        for r in pts:
            lo, hi = stats.interval(r, value)
            kind = stats.point_kind(r)
            kinds.add(kind)
            style = {"ok": dict(marker="o", mfc=color, mec=color),
                     "oversubscribed": dict(marker="o", mfc="white", mec=color, mew=1.6),
                     "unverified": dict(marker="s", mfc="0.6", mec="0.3")}[kind]
            kinds.add("nointerval" if math.isnan(lo) else "bar")
            yerr = None if math.isnan(lo) else [[max(r[value] - lo, 0.0)], [max(hi - r[value], 0.0)]]
            ax.errorbar([r["procs"]], [r[value]], yerr=yerr, color=color, capsize=4,
                        linestyle="none", markersize=7, elinewidth=1.2, **style)
        failed = [r["procs"] for r in s.rows if stats.point_kind(r) == "failed"]
        if failed:
            kinds.add("failed")
            ax.plot(failed, [0.03] * len(failed), "x", color=FAILED_COLOR, markersize=10, mew=2.2,
                    transform=ax.get_xaxis_transform(), clip_on=False)
    if not any(not math.isnan(r[value]) for s in series for r in s.rows):
        ax.text(0.5, 0.5, "no measured point", transform=ax.transAxes, ha="center", va="center",
                color="0.4")
        kinds.add("empty")
    return kinds


#: what the legend and the caption say of a point drawn without an error bar
NO_INTERVAL = "no interval (too few launches)"


def bars_caption(series: list[Series]) -> str:
    """What the error bars are: 'error bars: 95% confidence interval, 5 launches x 3
    repeats' (stats.samples_text over every series' points), and where some or all points
    have none, that they have no interval; '' where no point has a time."""
    rows = [r for s in series for r in s.rows]
    samples = stats.samples_text(rows)
    if not samples:
        return ""
    pairs = [(r, v) for r in rows for v in stats.INTERVAL_COLUMNS if not math.isnan(r[v])]
    with_bar = [not math.isnan(stats.interval(r, v)[0]) for r, v in pairs]
    if not any(with_bar):
        return f"no error bars: {NO_INTERVAL}, {samples}"
    text = f"error bars: 95% confidence interval, {samples}"
    return text if all(with_bar) else f"{text}; a point without a bar: {NO_INTERVAL}"


def _legend(ax, series: list[Series], kinds: set[str]) -> None:
    handles, labels = ax.get_legend_handles_labels()
    slots = series[0].slots if series else "?"
    proxies = {
        "ok": (Line2D([], [], marker="o", color="0.2", linestyle="none"),
               "measured (median" + (", bars: 95% confidence interval)" if "bar" in kinds else ")")),
        "oversubscribed": (Line2D([], [], marker="o", mfc="white", mec="0.2", mew=1.6, linestyle="none"),
                           f"oversubscribed (P > {slots} slots: contention, not scaling)"),
        "unverified": (Line2D([], [], marker="s", mfc="0.6", mec="0.3", linestyle="none"),
                       "not verified (--no-verify): no speedup"),
        "failed": (Line2D([], [], marker="x", color=FAILED_COLOR, mew=2.2, linestyle="none"),
                   "failed point (no time)"),
        "nointerval": (Line2D([], [], linestyle="none"), f"no bar: {NO_INTERVAL}"),
    }
    for k in ("ok", "oversubscribed", "unverified", "failed", "nointerval"):
        if k in kinds:
            handles.append(proxies[k][0])
            labels.append(proxies[k][1])
    ax.legend(handles, labels, fontsize=7.5, loc="best", framealpha=0.85)


def _ideal(ax, series: list[Series], fn, label: str) -> None:
    base = stats.baseline(list(series[0].rows)) if series else None
    procs = _all_procs(series)
    if base is None or not procs:
        return
    ax.plot(procs, [fn(base, p) for p in procs], label=label, **IDEAL_STYLE)


def _model_curve(ax, series: list[Series], value: str) -> None:
    """The fitted model (dashed) and the one with the measured network (dotted), from the
    smallest measured P to the right edge of the P axis; one sweep only (an overlay would be
    unreadable). value: time_s, speedup or efficiency, the last two against the measured
    baseline, as the points are."""
    if len(series) != 1:
        return
    for m, style in ((series[0].model, MODEL_STYLE), (series[0].measured, MEASURED_STYLE)):
        if m is not None:
            _one_curve(ax, series, m, value, style)


def _one_curve(ax, series: list[Series], m, value: str, style: dict) -> None:
    base = stats.baseline(list(series[0].rows))
    procs = _all_procs(series)
    if base is None or not procs:
        return
    p0, t0 = base
    n = 60
    lo, hi = min(procs), max(procs) * 1.4            # _p_axis's right edge
    xs = [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]
    ts = [m.time(x) for x in xs]
    if value == "speedup":
        ys = [stats.speedup(m.mode, p0, t0, x, t) for x, t in zip(xs, ts)]
    elif value == "efficiency":
        ys = [stats.efficiency(m.mode, p0, t0, x, t) for x, t in zip(xs, ts)]
    else:
        ys = ts
    ax.plot(xs, ys, label=model_label(m), **style)


def _plain_log_labels(ax) -> None:
    """Decimal tick labels on a log10 y axis (0.002, not 2 x 10^-3): majors, and the minor
    ticks at 2 and 5 x 10^k."""
    def minor(v, _):
        m = v / 10 ** math.floor(math.log10(v)) if v > 0 else 0
        return f"{v:g}" if round(m) in (2, 5) and abs(m - round(m)) < 1e-6 else ""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(minor))


def draw_time(ax, series: list[Series]) -> None:
    mode = series[0].mode
    if mode == "weak":
        _ideal(ax, series, lambda b, p: stats.ideal_time("weak", b[0], b[1], p),
               "ideal (flat: T(P0))")
    else:
        _ideal(ax, series, lambda b, p: stats.ideal_time("strong", b[0], b[1], p),
               "ideal (T(P0) P0 / P)")
    _model_curve(ax, series, "time_s")
    kinds = _draw_series(ax, series, "time_s")
    p_axis(ax, _all_procs(series))
    if mode == "weak":
        ax.set_ylim(bottom=0)
        ax.set_ylabel("time per step (s), batch grows with P")
    else:
        if "empty" not in kinds:
            ax.set_yscale("log")
            _plain_log_labels(ax)
        ax.set_ylabel("time per step (s), log scale")
    ax.set_title("time vs P" + (" (median of repeats, max over ranks)"), fontsize=9.5)
    _legend(ax, series, kinds)


def draw_speedup(ax, series: list[Series]) -> None:
    _ideal(ax, series, lambda b, p: p, "ideal (S = P)")
    _model_curve(ax, series, "speedup")
    kinds = _draw_series(ax, series, "speedup")
    p_axis(ax, _all_procs(series))
    if "empty" not in kinds:
        ax.set_yscale("log", base=2)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_ylabel("speedup P0 T(P0) / T(P), log scale")
    ax.set_title("speedup vs P", fontsize=9.5)
    _legend(ax, series, kinds)


def draw_efficiency(ax, series: list[Series]) -> None:
    weak = series[0].mode == "weak"
    _ideal(ax, series, lambda b, p: 1.0, "ideal (100 %)")
    _model_curve(ax, series, "efficiency")
    kinds = _draw_series(ax, series, "efficiency")
    p_axis(ax, _all_procs(series))
    ax.set_ylim(bottom=0, top=max(1.1, ax.get_ylim()[1]))
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.set_ylabel("weak-scaling efficiency T(P0) / T(P)" if weak else "parallel efficiency S / P")
    ax.set_title("efficiency vs P", fontsize=9.5)
    _legend(ax, series, kinds)


def _scaling_series(sweeps, labels=None) -> list[Series]:
    sweeps = list(sweeps)
    if not sweeps:
        raise UsageError("no sweep to plot")
    series = [_series(s, labels[i] if labels else None) for i, s in enumerate(sweeps)]
    if any(s.mode == "run" for s in series):
        raise UsageError("a single-point sweep (convbench run) has no scaling figures")
    if len({s.mode for s in series}) > 1:
        raise UsageError("an overlay needs sweeps of the same mode")
    return series


def _frame(sweeps, series: list[Series]) -> tuple[str, str]:
    """The title and the caption, which says what the error bars are (bars_caption)."""
    title, caption = frame(list(sweeps))
    bars = bars_caption(series)
    return title, f"{caption}. {bars[0].upper()}{bars[1:]}." if bars else caption


def _one_panel(draw, sweeps, labels=None):
    series = _scaling_series(sweeps, labels)
    fig, (ax,) = new_figure()
    draw(ax, series)
    return finish(fig, *_frame(sweeps, series))


def time_figure(sweeps, labels=None):
    """Time vs P: strong log-log with the ideal T(P0) P0 / P; weak with the flat ideal."""
    return _one_panel(draw_time, sweeps, labels)


def speedup_figure(sweeps, labels=None):
    """Strong speedup vs P with the ideal S = P and 95% interval bars."""
    return _one_panel(draw_speedup, sweeps, labels)


def efficiency_figure(sweeps, labels=None):
    """Parallel (strong) or weak-scaling efficiency vs P with the ideal 100 %."""
    return _one_panel(draw_efficiency, sweeps, labels)


def scaling_figure(sweeps, labels=None):
    """Two panels: strong speedup and efficiency; weak time and efficiency."""
    series = _scaling_series(sweeps, labels)
    fig, (a1, a2) = new_figure(2, width=5.6)
    (draw_time if series[0].mode == "weak" else draw_speedup)(a1, series)
    draw_efficiency(a2, series)
    return finish(fig, *_frame(sweeps, series))

