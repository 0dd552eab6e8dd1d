"""Figures of a sweep (matplotlib, Agg backend): only drawing, every number from stats.

One function per figure; each returns a matplotlib Figure with axis labels and units, a title
naming the workload and a caption naming the MPI library and host:

- strong: time vs P (log-log) with the ideal T(P0) P0 / P; speedup vs P with the ideal S = P;
  parallel efficiency vs P with the ideal 100 %; all with min-max bars over the repeats;
- weak: time vs P with the ideal flat T(P0); weak-scaling efficiency T(P0) / T(P);
- scaling: the two main panels side by side (strong: speedup and efficiency; weak: time and
  efficiency);
- phases: stacked compute / scatter / gather / allreduce / wait per P;
- memory: peak RSS of every rank at every P, rank 0 in its own colour.

The scaling figures of one sweep also draw its fitted scaling model (model.py: Amdahl for
strong, Gustafson for weak, plus communication) as a dashed curve a little beyond the largest P,
where its serial fraction could be fitted (two or more usable P).
The scaling figures take one sweep or several of the same mode and workload (--overlay).
Oversubscribed points are hollow, unverified ones grey squares, failed ones red crosses on the
P axis; the legend says so. plot() writes the figures of a sweep or a directory of sweeps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullLocator, PercentFormatter  # noqa: E402

from convbench.reporting import stats
from convbench.results import store as results  # noqa: E402
from convbench.reporting import scaling as scaling_model  # noqa: E402
from convbench.core.errors import ConvbenchError, UsageError  # noqa: E402

FORMATS = ("png", "svg", "pdf")
PHASES = (("compute_s", "compute", "C0"), ("scatter_s", "scatter", "C1"),
          ("gather_s", "gather", "C2"), ("allreduce_s", "allreduce", "C4"),
          ("wait_s", "wait (load imbalance)", "0.7"))
PHASE_HOW = "critical"
PHASE_NOTE = {"critical": "each bar: in the median repeat, the rank with the longest compute "
                          "(its phases add up to its time)",
              "median": "each phase: median over repeats of its mean over ranks"}
FAILED_COLOR = "tab:red"
IDEAL_STYLE = dict(color="0.45", linestyle="--", linewidth=1.2)
MODEL_STYLE = dict(color="C1", linestyle="--", linewidth=1.4)


@dataclass(frozen=True)
class Series:
    """One sweep as the scaling panels draw it."""

    label: str
    mode: str
    rows: tuple          # stats.points(summary)
    slots: str
    model: object = None  # model.Model fitted to the sweep where s was fitted, else None


def fitted_model(sweep: results.Sweep):
    """The scaling model of a sweep (model.build) where its serial fraction could be fitted
    (two or more usable P); None otherwise, or where the sweep cannot be modelled."""
    try:
        m = scaling_model.build(sweep, procs=())
    except (ConvbenchError, ValueError, ArithmeticError):
        return None
    return m if m.scaling.determined else None


def model_label(m) -> str:
    law = {"amdahl": "Amdahl", "gustafson": "Gustafson"}.get(m.scaling.law, m.scaling.law)
    comm = "" if m.comm.status == "none" else " + communication"
    return f"model: {law}, s = {m.scaling.serial_fraction:.3g}{comm}"


def _series(sweep: results.Sweep, label: str | None = None) -> Series:
    results.require(sweep, results.SUMMARY, ("time_s", "time_min_s", "time_max_s", "speedup",
                                             "efficiency", "status", "verified", "oversubscribed"))
    ctx = stats.sweep_context(sweep.manifest, sweep.path.name)
    return Series(label or ctx.name, ctx.mode, tuple(stats.points(sweep.summary)), ctx.slots,
                  fitted_model(sweep) if ctx.mode in scaling_model.LAWS else None)


# ---- figure frame: title, caption, P axis -------------------------------------------------------
def _figure(ncols: int = 1, width: float = 6.4, height: float = 4.8):
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    # fixed margins (tight_layout costs more than drawing the figure)
    fig.subplots_adjust(left=0.13 / ncols, right=1 - 0.03 / ncols, top=0.86, bottom=0.2,
                        wspace=0.25)
    return fig, list(axes[0])


def _finish(fig, title: str, caption: str):
    fig.suptitle(title, fontsize=11)
    fig.text(0.01, 0.015, caption, fontsize=7.5, ha="left", va="bottom", color="0.25", wrap=True)
    plt.close(fig)            # drawn through the Figure object, not pyplot's current figure
    return fig


def _frame(sweeps: list[results.Sweep]) -> tuple[str, str]:
    ctxs = [stats.sweep_context(s.manifest, s.path.name) for s in sweeps]
    if len(ctxs) == 1:
        return ctxs[0].title, ctxs[0].caption
    c = ctxs[0]
    mpis = sorted({x.mpi for x in ctxs})
    hosts = sorted({x.host for x in ctxs})
    return (f"{c.title}: {len(ctxs)} sweeps",
            f"{'; '.join(mpis)} on {'; '.join(hosts)}; {c.pass_} pass; see the legend for each sweep")


def _p_axis(ax, procs: list[int]) -> None:
    procs = sorted(set(procs)) or [1]
    ax.set_xscale("log", base=2)
    ax.set_xlim(min(procs) / 1.4, max(procs) * 1.4)
    ax.set_xticks(procs)
    ax.set_xticklabels([str(p) for p in procs])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("MPI processes P")
    ax.grid(True, which="major", alpha=0.3)


def _all_procs(series: list[Series]) -> list[int]:
    return sorted({r["procs"] for s in series for r in s.rows})


# ---- the scaling panels ---------------------------------------------------------------------
def _draw_series(ax, series: list[Series], value: str, bars) -> set[str]:
    """Line + min-max bars per series; markers by point kind; failed points on the P axis.
    value: a row key; bars(row) -> (lo, hi). Returns the kinds that were drawn."""
    kinds = set()
    for i, s in enumerate(series):
        color = f"C{i}" if len(series) > 1 else "C0"
        pts = [r for r in s.rows if not math.isnan(r[value])]
        xs = [r["procs"] for r in pts]
        ys = [r[value] for r in pts]
        ax.plot(xs, ys, "-", color=color, linewidth=1.5, label=s.label if len(series) > 1 else None)
        for r in pts:
            lo, hi = bars(r)
            kind = stats.point_kind(r)
            kinds.add(kind)
            style = {"ok": dict(marker="o", mfc=color, mec=color),
                     "oversubscribed": dict(marker="o", mfc="white", mec=color, mew=1.6),
                     "unverified": dict(marker="s", mfc="0.6", mec="0.3")}[kind]
            yerr = None if math.isnan(lo) else [[r[value] - lo], [hi - r[value]]]
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


def _legend(ax, series: list[Series], kinds: set[str]) -> None:
    handles, labels = ax.get_legend_handles_labels()
    slots = series[0].slots if series else "?"
    proxies = {
        "ok": (Line2D([], [], marker="o", color="0.2", linestyle="none"),
               "measured (median, bars: min-max over repeats)"),
        "oversubscribed": (Line2D([], [], marker="o", mfc="white", mec="0.2", mew=1.6, linestyle="none"),
                           f"oversubscribed (P > {slots} slots: contention, not scaling)"),
        "unverified": (Line2D([], [], marker="s", mfc="0.6", mec="0.3", linestyle="none"),
                       "not verified (--no-verify): no speedup"),
        "failed": (Line2D([], [], marker="x", color=FAILED_COLOR, mew=2.2, linestyle="none"),
                   "failed point (no time)"),
    }
    for k in ("ok", "oversubscribed", "unverified", "failed"):
        if k in kinds:
            handles.append(proxies[k][0])
            labels.append(proxies[k][1])
    ax.legend(handles, labels, fontsize=7.5, loc="best", framealpha=0.85)


def _time_bars(r):
    return r["time_min_s"], r["time_max_s"]


def _speedup_bars(r):
    return stats.scaling_range(r["speedup"], r["time_s"], r["time_min_s"], r["time_max_s"])


def _eff_bars(r):
    return stats.scaling_range(r["efficiency"], r["time_s"], r["time_min_s"], r["time_max_s"])


def _ideal(ax, series: list[Series], fn, label: str) -> None:
    base = stats.baseline(list(series[0].rows)) if series else None
    procs = _all_procs(series)
    if base is None or not procs:
        return
    ax.plot(procs, [fn(base, p) for p in procs], label=label, **IDEAL_STYLE)


def _model_curve(ax, series: list[Series], value: str) -> None:
    """The fitted model (dashed), from the smallest measured P to the right edge of the P
    axis; one sweep only (an overlay would be unreadable). value: time_s, speedup or
    efficiency, the last two against the measured baseline, as the points are."""
    m = series[0].model if len(series) == 1 else None
    base = stats.baseline(list(series[0].rows)) if m is not None else None
    procs = _all_procs(series)
    if m is None or base is None or not procs:
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
    ax.plot(xs, ys, label=model_label(m), **MODEL_STYLE)


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
    kinds = _draw_series(ax, series, "time_s", _time_bars)
    _p_axis(ax, _all_procs(series))
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
    kinds = _draw_series(ax, series, "speedup", _speedup_bars)
    _p_axis(ax, _all_procs(series))
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
    kinds = _draw_series(ax, series, "efficiency", _eff_bars)
    _p_axis(ax, _all_procs(series))
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


def _one_panel(draw, sweeps, labels=None):
    series = _scaling_series(sweeps, labels)
    fig, (ax,) = _figure()
    draw(ax, series)
    return _finish(fig, *_frame(list(sweeps)))


def time_figure(sweeps, labels=None):
    """Time vs P: strong log-log with the ideal T(P0) P0 / P; weak with the flat ideal."""
    return _one_panel(draw_time, sweeps, labels)


def speedup_figure(sweeps, labels=None):
    """Strong speedup vs P with the ideal S = P and min-max bars."""
    return _one_panel(draw_speedup, sweeps, labels)


def efficiency_figure(sweeps, labels=None):
    """Parallel (strong) or weak-scaling efficiency vs P with the ideal 100 %."""
    return _one_panel(draw_efficiency, sweeps, labels)


def scaling_figure(sweeps, labels=None):
    """Two panels: strong speedup and efficiency; weak time and efficiency."""
    series = _scaling_series(sweeps, labels)
    fig, (a1, a2) = _figure(2, width=5.6)
    (draw_time if series[0].mode == "weak" else draw_speedup)(a1, series)
    draw_efficiency(a2, series)
    return _finish(fig, *_frame(list(sweeps)))


# ---- per-sweep figures: phases and memory -----------------------------------------------------
def _categories(ax, procs: list[int]) -> None:
    ax.set_xticks(range(len(procs)))
    ax.set_xlim(-0.6, len(procs) - 0.4)
    ax.set_xticklabels([str(p) for p in procs])
    ax.set_xlabel("MPI processes P")
    ax.grid(True, axis="y", alpha=0.3)


def _mark_failed(ax, i: int, text: str = "failed") -> None:
    ax.text(i, 0.02, text, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
            color=FAILED_COLOR, fontsize=8, rotation=90)


def phases_figure(sweep: results.Sweep, how: str = PHASE_HOW):
    """Stacked phases per P from ranks.csv (see stats.phase_breakdown for `how`)."""
    results.require(sweep, results.RANKS, ("procs", "repeat", "rank", "time_s", *stats.PHASE_COLUMNS))
    ctx = stats.sweep_context(sweep.manifest, sweep.path.name)
    rows = {r["procs"]: r for r in stats.points(sweep.summary)}
    phases = {d["procs"]: d for d in stats.phase_breakdown(sweep.ranks, how)}
    procs = sorted(set(rows) | set(phases))
    fig, (ax,) = _figure()
    used = [(c, name, color) for c, name, color in PHASES if any(d[c] > 0 for d in phases.values())]
    kinds = set()
    for i, p in enumerate(procs):
        r = rows.get(p, {})
        kind = stats.point_kind(r) if r else "ok"
        if p not in phases:
            _mark_failed(ax, i, "failed: no timings")
            kinds.add("failed")
            continue
        kinds.add(kind)
        bottom = 0.0
        for c, name, color in used:
            v = phases[p][c]
            ax.bar(i, v, 0.6, bottom=bottom, color=color,
                   hatch="//" if kind == "oversubscribed" else ("xx" if kind == "failed" else None),
                   edgecolor=FAILED_COLOR if kind == "failed" else "white", linewidth=0.8)
            bottom += v
    _categories(ax, procs)
    ax.set_ylabel("time per step (s)")
    ax.set_title("phases per P", fontsize=9.5)
    handles = [Patch(color=color, label=name) for _, name, color in used]
    if "oversubscribed" in kinds:
        handles.append(Patch(facecolor="white", edgecolor="0.3", hatch="//",
                             label=f"oversubscribed (P > {ctx.slots} slots)"))
    if "failed" in kinds:
        handles.append(Patch(facecolor="white", edgecolor=FAILED_COLOR, hatch="xx",
                             label="failed point"))
    if handles:
        ax.legend(handles=handles, fontsize=7.5, loc="best", framealpha=0.85)
    return _finish(fig, ctx.title, f"{ctx.caption}. {PHASE_NOTE[how]}")


def memory_figure(sweep: results.Sweep):
    """Peak RSS of every rank at every P (the original report's memory table as a picture)."""
    results.require(sweep, results.RANKS, ("procs", "rank", "rss_peak_mb", "rss_base_mb"))
    ctx = stats.sweep_context(sweep.manifest, sweep.path.name)
    rows = {r["procs"]: r for r in stats.points(sweep.summary)}
    mem = stats.memory_per_rank(sweep.ranks)
    procs = sorted(set(rows) | {m["procs"] for m in mem})
    fig, (ax,) = _figure()
    kinds = set()
    for i, p in enumerate(procs):
        ranks = [m for m in mem if m["procs"] == p]
        r = rows.get(p, {})
        if not ranks:
            _mark_failed(ax, i, "failed: no data")
            kinds.add("failed")
            continue
        kind = stats.point_kind(r) if r else "ok"
        kinds.add(kind)
        w = 0.8 / len(ranks)
        for j, m in enumerate(ranks):
            x = i - 0.4 + w * (j + 0.5)
            color = "C3" if m["rank"] == 0 else "C0"
            ax.bar(x, m["rss_peak_mb"], w * 0.9, color=color,
                   hatch="//" if kind == "oversubscribed" else ("xx" if kind == "failed" else None),
                   edgecolor=FAILED_COLOR if kind == "failed" else "white", linewidth=0.5)
            ax.bar(x, m["rss_base_mb"], w * 0.9, color="white", alpha=0.45, linewidth=0)
        total = r.get("mem_total_mb", math.nan) if r else math.nan
        if not math.isnan(total):
            ax.text(i, max(m["rss_peak_mb"] for m in ranks), f"total {total:.0f} MB",
                    ha="center", va="bottom", fontsize=7.5)
    _categories(ax, procs)
    ax.set_ylabel("peak RSS per rank (MB)")
    ax.set_title("memory per rank", fontsize=9.5)
    top = max((m["rss_peak_mb"] for m in mem), default=1.0)
    ax.set_ylim(0, top * 1.4)          # room for the legend above the bars
    handles = [Patch(color="C3", label="rank 0"), Patch(color="C0", label="other ranks"),
               Patch(facecolor="C0", alpha=0.45, label="lighter part: RSS before the workload's buffers")]
    if "oversubscribed" in kinds:
        handles.append(Patch(facecolor="white", edgecolor="0.3", hatch="//",
                             label=f"oversubscribed (P > {ctx.slots} slots)"))
    if "failed" in kinds:
        handles.append(Patch(facecolor="white", edgecolor=FAILED_COLOR, hatch="xx", label="failed point"))
    ax.legend(handles=handles, fontsize=7.5, loc="upper center", ncol=2, framealpha=0.85)
    return _finish(fig, ctx.title, f"{ctx.caption}. Peak RSS (VmHWM) of each rank, per P, left to right rank 0, 1, ...")


# ---- writing the figures of a path ----------------------------------------------------------
SCALING = {"strong": (("time", time_figure), ("speedup", speedup_figure),
                      ("efficiency", efficiency_figure), ("scaling", scaling_figure)),
           "weak": (("time", time_figure), ("efficiency", efficiency_figure),
                    ("scaling", scaling_figure)),
           "run": ()}


def figures_of(sweep: results.Sweep) -> list[tuple[str, object]]:
    """(name, zero-argument function returning the Figure) for one sweep, by its mode."""
    mode = stats.sweep_context(sweep.manifest).mode
    figs = [(n, (lambda f=f: f([sweep]))) for n, f in SCALING.get(mode, ())]
    figs += [("phases", lambda: phases_figure(sweep)), ("memory", lambda: memory_figure(sweep))]
    return figs


@dataclass(frozen=True)
class PlotResult:
    files: tuple[Path, ...]
    skipped: tuple[str, ...]      # one line per sweep that could not be read


def find_sweeps(path: Path) -> tuple[list[results.Sweep], list[str]]:
    """A sweep directory, or a directory of sweeps (unreadable ones skipped with a reason)."""
    path = Path(path)
    if results.is_sweep_dir(path) or not path.is_dir():
        return [results.load(path)], []
    try:
        subdirs = sorted(d for d in path.iterdir() if d.is_dir() and results.is_sweep_dir(d))
    except OSError as e:
        raise UsageError(f"cannot read {str(path)!r}: {e.strerror or e}") from None
    if not subdirs:
        raise UsageError(f"{str(path)!r} is neither a convbench results directory (no "
                         f"{results.MANIFEST}) nor a directory of sweeps")
    sweeps, skipped = [], []
    for d in subdirs:
        try:
            sweeps.append(results.load(d))
        except ConvbenchError as e:
            skipped.append(f"skipped {d.name}: {e}")
    if not sweeps:
        raise UsageError(f"no readable sweep in {str(path)!r}: " + "; ".join(skipped))
    return sweeps, skipped


def _save(fig, path: Path, fmt: str, dpi: int) -> Path:
    try:
        fig.savefig(path, format=fmt, dpi=dpi)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    return path


def _overlay_groups(sweeps: list[results.Sweep]) -> list[list[results.Sweep]]:
    groups: dict[tuple, list] = {}
    for s in sweeps:
        c = stats.sweep_context(s.manifest, s.path.name)
        if c.mode in ("strong", "weak"):
            groups.setdefault((c.mode, c.workload, c.layer), []).append(s)
    return [g for g in groups.values() if len(g) > 1]


def _overlay_label(s: results.Sweep) -> str:
    c = stats.sweep_context(s.manifest, s.path.name)
    return f"{c.name}: {c.mpi}, {c.pass_}, {c.data}"


def plot(path, out=None, fmt: str = "png", overlay: bool = False, dpi: int = 100) -> PlotResult:
    """Write the figures of PATH (a sweep, or a directory of sweeps).

    One sweep: into OUT (default PATH/figures). Several: into OUT/<sweep name>/ (default each
    sweep's figures/), and with overlay the scaling figures of each group of sweeps of the same
    mode and workload into OUT (default PATH/figures) as overlay-<mode>-<workload>-<name>."""
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if not 20 <= dpi <= 600:
        raise UsageError(f"--dpi must be between 20 and 600, got {dpi}")
    path = Path(path)
    sweeps, skipped = find_sweeps(path)
    single = len(sweeps) == 1 and results.is_sweep_dir(path)
    files = []
    for s in sweeps:
        if out is None:
            d = s.path / "figures"
        else:
            d = Path(out) if single else Path(out) / s.path.name
        d = results.prepare_out(d)
        for name, make in figures_of(s):
            files.append(_save(make(), d / f"{name}.{fmt}", fmt, dpi))
    if overlay:
        groups = _overlay_groups(sweeps)
        if not groups:
            skipped.append("no overlay: no two sweeps share a mode and workload")
        d = results.prepare_out(Path(out) if out is not None else path / "figures") if groups else None
        for k, g in enumerate(groups, start=1):
            c = stats.sweep_context(g[0].manifest)
            labels = [_overlay_label(s) for s in g]
            stem = f"overlay-{c.mode}-{c.workload}" + (f"-{k}" if len(groups) > 1 else "")
            for name, fn in SCALING[c.mode]:
                files.append(_save(fn(g, labels), d / f"{stem}-{name}.{fmt}", fmt, dpi))
    return PlotResult(tuple(files), tuple(skipped))
