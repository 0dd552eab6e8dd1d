"""The per-sweep bar figures: the phases of a step per P, and the memory of every rank.

- phases: stacked compute / scatter / halo exchange / gather / allreduce / wait per P, the
  phases of convbench.workload.phases that the sweep spent time in (:func:`phase_bars`);
- memory: peak RSS of every rank at every P, rank 0 in its own colour.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from matplotlib.patches import Patch

from convbench.reporting import stats
from convbench.reporting.figures_frame import (FAILED_COLOR, categories, finish, mark_failed,
                                               new_figure)
from convbench.results import store as results
from convbench.workload import phases as phase_registry

PHASE_HOW = "critical"
PHASE_NOTE = {"critical": "each bar: in the median repeat, the rank with the longest compute "
                          "(its phases add up to its time)",
              "median": "each phase: median over repeats of its mean over ranks"}


@dataclass(frozen=True)
class PhaseBars:
    """What the phases figure draws: per P (in order), the phases' seconds of the breakdown;
    `phases` are the registry's phases with time at some P, bottom to top."""

    procs: tuple[int, ...]
    phases: tuple[phase_registry.Phase, ...]
    seconds: dict            # procs -> {phase name: seconds}; a P without timings is absent
    kinds: dict              # procs -> stats.point_kind of its summary row ("ok" if none)


def phase_bars(sweep: results.Sweep, how: str = PHASE_HOW) -> PhaseBars:
    """The numbers of the phases figure (see stats.phase_breakdown for `how`)."""
    results.require(sweep, results.RANKS, ("procs", "repeat", "rank", "time_s", *stats.PHASE_COLUMNS))
    rows = {r["procs"]: r for r in stats.points(sweep.summary)}
    breakdown = {d["procs"]: d for d in stats.phase_breakdown(sweep.ranks, how)}
    procs = tuple(sorted(set(rows) | set(breakdown)))
    used = tuple(ph for ph in phase_registry.PHASES
                 if any(d[ph.column] > 0 for d in breakdown.values()))
    return PhaseBars(procs, used,
                     {p: {ph.name: d[ph.column] for ph in used} for p, d in breakdown.items()},
                     {p: stats.point_kind(rows[p]) if p in rows else "ok" for p in procs})


def phases_figure(sweep: results.Sweep, how: str = PHASE_HOW):
    """Stacked phases per P from ranks.csv, one colour per phase of the registry."""
    bars = phase_bars(sweep, how)
    ctx = stats.sweep_context(sweep.manifest, sweep.path.name)
    fig, (ax,) = new_figure()
    kinds = set()
    for i, p in enumerate(bars.procs):
        if p not in bars.seconds:
            mark_failed(ax, i, "failed: no timings")
            kinds.add("failed")
            continue
        kind = bars.kinds[p]
        kinds.add(kind)
        bottom = 0.0
        for ph in bars.phases:
            v = bars.seconds[p][ph.name]
            ax.bar(i, v, 0.6, bottom=bottom, color=ph.color,
                   hatch="//" if kind == "oversubscribed" else ("xx" if kind == "failed" else None),
                   edgecolor=FAILED_COLOR if kind == "failed" else "white", linewidth=0.8)
            bottom += v
    categories(ax, list(bars.procs))
    ax.set_ylabel("time per step (s)")
    ax.set_title("phases per P", fontsize=9.5)
    handles = [Patch(color=ph.color, label=ph.label) for ph in bars.phases]
    if "oversubscribed" in kinds:
        handles.append(Patch(facecolor="white", edgecolor="0.3", hatch="//",
                             label=f"oversubscribed (P > {ctx.slots} slots)"))
    if "failed" in kinds:
        handles.append(Patch(facecolor="white", edgecolor=FAILED_COLOR, hatch="xx",
                             label="failed point"))
    if handles:
        ax.legend(handles=handles, fontsize=7.5, loc="best", framealpha=0.85)
    return finish(fig, ctx.title, f"{ctx.caption}. {PHASE_NOTE[how]}")


def memory_figure(sweep: results.Sweep):
    """Peak RSS of every rank at every P (the original report's memory table as a picture)."""
    results.require(sweep, results.RANKS, ("procs", "rank", "rss_peak_mb", "rss_base_mb"))
    ctx = stats.sweep_context(sweep.manifest, sweep.path.name)
    rows = {r["procs"]: r for r in stats.points(sweep.summary)}
    mem = stats.memory_per_rank(sweep.ranks)
    procs = sorted(set(rows) | {m["procs"] for m in mem})
    fig, (ax,) = new_figure()
    kinds = set()
    for i, p in enumerate(procs):
        ranks = [m for m in mem if m["procs"] == p]
        r = rows.get(p, {})
        if not ranks:
            mark_failed(ax, i, "failed: no data")
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
    categories(ax, procs)
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
    return finish(fig, ctx.title, f"{ctx.caption}. Peak RSS (VmHWM) of each rank, per P, left to right rank 0, 1, ...")

