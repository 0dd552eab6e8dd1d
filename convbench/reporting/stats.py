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
from dataclasses import dataclass
from typing import Iterable, Sequence

from convbench.core.text import visible
from convbench.results import records
from convbench.workload import phases


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


from convbench.workload.cost import bandwidth, roofline_bound  # noqa: E402


def roofline_columns(time_s: float, gbs: float, flops: float, nbytes: float, roof: dict,
                     cores: int) -> dict:
    """Where a point stands against the machine's roofline on `cores` cores:
    roofline_s = max(FLOPs / peak, bytes / bandwidth), roofline_frac = roofline_s / time_s
    (1 = at the bound), bw_frac = achieved GB/s / the bandwidth of that many cores (near 1:
    memory bandwidth is full, more ranks on these cores cannot help)."""
    bound = roofline_bound(flops, nbytes, roof, cores)
    ok = time_s is not None and time_s > 0
    return {"roofline_s": bound, "roofline_frac": bound / time_s if ok else math.nan,
            "bw_frac": gbs / bandwidth(roof, cores) if ok and gbs == gbs else math.nan}


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


# ---- reading summary and ranks tables back (for plots, report and compare) -------------------
# These take the pandas tables of results.load() and return plain data; the exporters and the
# figures only format what they return.

#: the phase columns of ranks.csv, in the order of the phase registry
PHASE_COLUMNS = phases.columns()


def _is_nan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def as_float(v) -> float:
    """A CSV cell as a float: NaN for empty, missing or unparseable cells."""
    if _is_nan(v):
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def as_bool(v) -> bool:
    """'true'/'false' (as results.py writes them), a bool, or an empty cell (False)."""
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes")
    if _is_nan(v):
        return False
    return bool(v)


def as_list(v) -> list[float]:
    """A space-separated list cell ('52.69 52.49'), a single number, or empty -> floats."""
    if _is_nan(v):
        return []
    if isinstance(v, str):
        return [float(x) for x in v.split()]
    return [float(v)]


def as_text(v) -> str:
    return "" if _is_nan(v) else str(v)


def as_int(v):
    """A CSV cell as an int; NaN for empty, missing or unparseable cells."""
    f = as_float(v)
    return int(f) if math.isfinite(f) and f == int(f) else math.nan


#: how points() reads each column of summary.csv, by the type of its PointRow field
_READ = {int: as_int, float: as_float, bool: as_bool, list: as_list, str: as_text}


def points(summary) -> list[dict]:
    """summary.csv's rows with typed values by their PointRow field, in P order: procs (int),
    the other integer columns (int, NaN where empty), the float columns (NaN where empty),
    verified/oversubscribed (bool), mem_per_rank_mb and idle_ranks (lists of floats), the text
    columns (str). The numbers are exactly the ones in the file."""
    kinds = records.column_kinds(records.PointRow)
    out = []
    for rec in summary.to_dict("records"):
        r = dict(rec)
        for c, kind in kinds.items():
            r[c] = _READ.get(kind, lambda v: v)(rec.get(c))
        r["procs"] = int(rec["procs"])
        out.append(r)
    return sorted(out, key=lambda r: r["procs"])


def point_kind(r: dict) -> str:
    """How a point is drawn and labelled: 'ok', 'oversubscribed' (ok, but P exceeded the
    slots), 'unverified' (measured with --no-verify: a time but no speedup) or 'failed'."""
    if r.get("status") != "ok" or _is_nan(r.get("time_s")):
        return "failed"
    if not r.get("verified"):
        return "unverified"
    return "oversubscribed" if r.get("oversubscribed") else "ok"


def baseline(rows: list[dict]) -> tuple[int, float] | None:
    """(P0, T(P0)): the smallest verified ok P, as add_scaling chooses it; None if none."""
    good = [r for r in rows if r.get("status") == "ok" and r.get("verified")
            and not _is_nan(r.get("time_s"))]
    if not good:
        return None
    b = min(good, key=lambda r: r["procs"])
    return b["procs"], b["time_s"]


def ideal_time(mode: str, p0: int, t0: float, p: int) -> float:
    """Perfect scaling from the baseline: strong T0 * P0 / P; weak T0 (flat)."""
    return t0 if mode == "weak" else t0 * p0 / p


#: the 95% interval columns of summary.csv (reporting/uncertainty.py fills them) by figure
INTERVAL_COLUMNS = {"time_s": ("time_lo_s", "time_hi_s"), "speedup": ("speedup_lo", "speedup_hi"),
                    "efficiency": ("efficiency_lo", "efficiency_hi")}


def interval(r: dict, value: str) -> tuple[float, float]:
    """The 95% confidence interval (lo, hi) of a row's time_s, speedup or efficiency; NaN,
    NaN where the row has none (too few samples, a sweep written before launches, no value)."""
    lo, hi = (as_float(r.get(c)) for c in INTERVAL_COLUMNS[value])
    if math.isnan(as_float(r.get(value))) or math.isnan(lo) or math.isnan(hi):
        return math.nan, math.nan
    return lo, hi


def launches(r: dict) -> int:
    """The launches a point's figures pool: summary.csv's launches; in a sweep written before
    launches were recorded (schema 1-2, the cell empty) one for a point with a time; 0 for a
    point without one."""
    n = as_int(r.get("launches"))
    if isinstance(n, int) and n > 0:
        return n
    return 0 if math.isnan(as_float(r.get("time_s"))) else 1


def interval_note(r: dict) -> str:
    """Why a point's figures lack an interval: summary.csv's ci_note, else 'too few samples:
    1 launch' for a point of one launch (every point of a sweep written before launches were
    recorded), else 'no interval recorded'."""
    note = as_text(r.get("ci_note")).strip()
    if note:
        return note
    return "too few samples: 1 launch" if launches(r) <= 1 else "no interval recorded"


def _span(values: set[int], one: str, many: str) -> str:
    lo, hi = min(values), max(values)
    return f"{lo}{'' if lo == hi else f'-{hi}'} {one if hi == 1 else many}"


def samples_text(rows) -> str:
    """'5 launches x 3 repeats' over the rows that have a time ('3-6 launches' where the
    points differ); '' where none has."""
    timed = [r for r in rows if launches(r) > 0]
    if not timed:
        return ""
    reps = {n for n in (as_int(r.get("repeats")) for r in timed) if isinstance(n, int) and n > 0}
    text = _span({launches(r) for r in timed}, "launch", "launches")
    return text + (f" x {_span(reps, 'repeat', 'repeats')}" if reps else "")


def phase_breakdown(ranks, how: str = "critical") -> list[dict]:
    """Per P, the phases of the registry (seconds: compute, scatter, halo, gather, allreduce,
    wait) of ranks.csv.

    how = "critical": in the median repeat (the repeat whose max-over-ranks time is the
          median; for an even count the lower of the two middle ones), the rank with the
          longest compute: the one the others wait for. Its phases add up to its own time,
          which the barriers make (nearly) the repeat's time.
    how = "median":   each phase's median over repeats of its mean over ranks.
    Returns one dict per P: procs, repeat (critical only, else -1), rank (critical only,
    else -1), time_s and the phase columns (PHASE_COLUMNS; an empty cell counts 0)."""
    if how not in ("critical", "median"):
        raise ValueError(f"unknown phase breakdown {how!r}")
    out = []
    if ranks is None or len(ranks) == 0:
        return out
    ranks = ranks.assign(**{c: ranks[c].fillna(0.0) if c in ranks.columns else 0.0
                            for c in PHASE_COLUMNS})
    for p, g in ranks.groupby("procs", sort=True):
        if how == "critical":
            per_rep = g.groupby("repeat")["time_s"].max().sort_values(kind="stable")
            rep = int(per_rep.index[(len(per_rep) - 1) // 2])
            rows = g[g["repeat"] == rep]
            r = rows.loc[rows["compute_s"].idxmax()]
            d = {"procs": int(p), "repeat": rep, "rank": int(r["rank"]), "time_s": float(r["time_s"])}
            d.update({c: float(r[c]) for c in PHASE_COLUMNS})
        else:
            means = g.groupby("repeat")[["time_s", *PHASE_COLUMNS]].mean()
            d = {"procs": int(p), "repeat": -1, "rank": -1}
            d.update({c: float(means[c].median()) for c in ("time_s", *PHASE_COLUMNS)})
        out.append(d)
    return out


def memory_per_rank(ranks) -> list[dict]:
    """Per P and rank, peak and baseline RSS (MB), the maximum over the repeats' rows (they
    are the same process, so the same values): dicts procs, rank, rss_peak_mb, rss_base_mb."""
    if ranks is None or len(ranks) == 0:
        return []
    g = ranks.groupby(["procs", "rank"], sort=True)[["rss_peak_mb", "rss_base_mb"]].max()
    return [{"procs": int(p), "rank": int(k), "rss_peak_mb": float(v["rss_peak_mb"]),
             "rss_base_mb": float(v["rss_base_mb"])} for (p, k), v in g.iterrows()]


# ---- what a sweep was: the labels of its figures and tables, from its manifest -------------
@dataclass(frozen=True)
class SweepContext:
    """A sweep's manifest reduced to what a title or caption names (all strings; '?' where
    the manifest lacks a field)."""

    name: str          # the sweep directory's name
    mode: str          # strong | weak | run
    workload: str      # the workload's name
    layer: str         # the layer: batch, channels, image, kernel (batch per rank for weak)
    pass_: str
    data: str
    repeats: str
    launches: str      # launches per point ('' in a sweep written before launches: one)
    mpi: str           # the MPI library (or vendor and launcher version)
    host: str          # host name, CPU model, cores
    slots: str         # MPI slots the sweep saw (P above it is oversubscribed)

    @property
    def title(self) -> str:
        return f"{self.mode} scaling: {self.workload} ({self.layer})" if self.mode != "run" \
            else f"one point: {self.workload} ({self.layer})"

    @property
    def caption(self) -> str:
        launches = f"{self.launches} launches x " if self.launches else ""
        return (f"{self.mpi} on {self.host}, {self.slots} slots; {self.pass_} pass, "
                f"{self.data} data, {launches}{self.repeats} repeats; {self.name}")


def sweep_context(manifest: dict, name: str = "") -> SweepContext:
    """The labels of a sweep from its manifest.json (tolerant of missing fields), every one
    printable (core.text.visible: a name's control characters escaped)."""
    def get(d, *keys, default="?"):
        for k in keys:
            d = d.get(k) if isinstance(d, dict) else None
        return default if d in (None, "") else d

    wl = get(manifest, "workload", default={})
    sw = get(manifest, "sweep", default={})
    mode = str(get(sw, "mode"))
    if isinstance(wl, dict) and "batch" in wl:
        layer = (f"batch {wl.get('batch')}{' per rank' if mode == 'weak' else ''}, "
                 f"{wl.get('c_in', '?')}->{wl.get('c_out', '?')} ch, "
                 f"{wl.get('height', '?')}x{wl.get('width', '?')}, K {wl.get('kh', '?')}x{wl.get('kw', '?')}")
        if (wl.get("stride_h", 1), wl.get("stride_w", 1)) != (1, 1):
            layer += f", stride {wl.get('stride_h')}x{wl.get('stride_w')}"
        if (wl.get("pad_h", 0), wl.get("pad_w", 0)) != (0, 0):
            layer += f", pad {wl.get('pad_h')}x{wl.get('pad_w')}"
    else:
        layer = "?"
    lib = get(manifest, "mpi", "library", default="")
    if lib:
        # MPICH: 'MPICH Version:      5.0.2'; Open MPI: 'Open MPI v5.0.3, package: ..., ...'
        mpi = " ".join(str(lib).splitlines()[0].split(",")[0].split())
    else:
        mpi = f"{get(manifest, 'mpi', 'vendor')} {get(manifest, 'mpi', 'launcher_version', default='')}".strip()
    env = get(manifest, "environment", default={})
    host = f"{get(env, 'hostname')} ({get(env, 'cpu_model')}, {get(env, 'cores_available')} cores)"
    launches = get(sw, "launches", default="")
    if launches != "" and get(sw, "target_ci", default=None) is not None:
        launches = f"{launches} or more"        # --target-ci: each row says how many it got
    return SweepContext(**{k: visible(v) for k, v in dict(
        name=name, mode=mode, workload=get(wl, "name"), layer=layer, pass_=get(sw, "pass"),
        data=get(sw, "data"), repeats=get(sw, "repeats"), launches=launches, mpi=mpi, host=host,
        slots=get(manifest, "mpi", "slots")).items()})
