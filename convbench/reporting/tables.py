"""Exporters of the report table (one sweep) and of the compare table (two sweeps).

Only formatting: every number is the one in summary.csv (read back by analysis.points) or the
one compare.compare computed. Three formats:

- markdown: the original report's table, for people. Fixed precision, documented under the
  table: times in seconds with 4 significant digits, memory in MB with 1 decimal, speedup
  and the Karp-Flatt serial fraction with 3 decimals, efficiency in percent with 1 decimal,
  ratios with 3 decimals; '-' where there is no value. Time, speedup and efficiency carry
  their 95% interval, or why there is none (cells.py); the status its noise flags.
- csv: the same columns with the full-precision values of summary.csv, for programs.
- json: {"sweep": {...}, "points": [...]} (or {"a", "b", "points", "warnings"}), NaN as null.

No cell carries a raw control character from a host, workload or failure reason: Markdown
shows it escaped (cells.visible), CSV keeps it in a correctly quoted field, JSON escapes it.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict

from convbench.reporting import stats as analysis
from convbench.reporting.cells import (csv_lines, csv_text as _csv, fmt_fixed,  # noqa: F401
                                       fmt_mb, fmt_percent, fmt_range, fmt_time,
                                       json_text as _json, launches_x_repeats,
                                       md_table as _md_table, missing as _nan,
                                       status_text, visible, with_interval)
from convbench.core.errors import UsageError
from convbench.results import records
from convbench.results.store import SUMMARY, Sweep, require
from convbench.workload import phases

FORMATS = ("markdown", "csv", "json")

#: the report's Markdown columns, the first five as in the original report
REPORT_HEADER = (
    "# Processes", "Execution Time (max)", "Min-Max (s)", "Memory Usage per Rank (MB)",
    "Total Memory Usage (MB)", "Output Shape", "Speedup", "Efficiency",
    "Serial Fraction (Karp-Flatt)", "Compute (s)", "Communication (s)", "Launches x Repeats",
    "Verified", "Status",
)
#: the report's CSV/JSON fields (names of summary.csv)
REPORT_FIELDS = records.pick(
    records.PointRow,
    "procs", "launches", "repeats", "time_s", "time_min_s", "time_max_s", "time_lo_s",
    "time_hi_s", "mem_per_rank_mb", "mem_total_mb", "output_shape", "speedup", "speedup_lo",
    "speedup_hi", "efficiency", "efficiency_lo", "efficiency_hi", "ci_note", "cv", "karp_flatt",
    "compute_s", "comm_s", "verified", "oversubscribed", "status", "flags", "stopped", "reason",
    *records.STAGES, "wall_s",
)
#: the Markdown table of where each point's wall time went
STAGES_HEADER = ("# Processes", "Wall (s)", "Launch", "Data", "Warm-up", "Repeats", "Verify",
                 "Write")
STAGES_NOTE = (
    "Wall: from starting mpiexec until it exited, in seconds, summed over the point's launches "
    "(as every stage); Launch: until every rank had "
    "Python, its imports and MPI; Data: until every rank had its input and buffers; Warm-up "
    "and Repeats: the untimed and the timed steps; Verify: coverage, finiteness, checksum and "
    "the reference check; Write: rank 0's result, MPI's finalisation and the ranks' exit.")
#: ranks listed one by one in the Markdown memory column; above, rank 0 and the others' range
MAX_RANKS_LISTED = 8

COMPARE_HEADER = ("# Processes", "A time (s)", "A L x R", "B time (s)", "B L x R", "B/A",
                  "B/A 95% CI", "p", "Verdict", "Note")
COMPARE_FIELDS = ("procs", "a_time_s", "a_launches", "a_repeats", "a_status", "b_time_s",
                  "b_launches", "b_repeats", "b_status", "ratio", "ratio_lo", "ratio_hi",
                  "p_value", "verdict", "note")

PRECISION_NOTE = (
    "Execution Time (max): the median over every timed repeat of every launch of the slowest "
    "rank's time, in seconds (summary.csv time_s), and in brackets its 95% confidence interval "
    "(time_lo_s, time_hi_s: a bootstrap over the launches, each with its repeats); Min-Max: the "
    "fastest and the slowest repeat. Speedup and Efficiency carry their 95% intervals likewise "
    "(each launch paired with the base point's launch of the same round). Where a point has too "
    "few samples for an interval, the cell says so in parentheses instead (in full below). "
    "Launches x Repeats: the launches the figures pool and the timed repeats of each. Times "
    "have 4 significant digits, memory (peak RSS, MB) 1 decimal, speedup and serial fraction "
    "3 decimals, efficiency 1 decimal in percent, the intervals' ends as their figure. Compute "
    "and Communication: medians over the repeats of the maximum over ranks of the compute time "
    f"and of the {phases.comm_text()} time.")
STATUS_NOTE = (
    "Status: the point's noise flags follow its status (never a reason to drop a point), then "
    "why its launches stopped where that was not the planned number.")


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return fmt


# ---- cell formatting (the generic cells: cells.py) ---------------------------------------
def fmt_ranks(mem: list[float]) -> str:
    if not mem:
        return "-"
    if len(mem) <= MAX_RANKS_LISTED:
        return ", ".join(fmt_mb(m) for m in mem)
    return f"rank 0: {fmt_mb(mem[0])}; ranks 1-{len(mem) - 1}: {fmt_mb(min(mem[1:]))}-{fmt_mb(max(mem[1:]))}"


def _context_dict(ctx: analysis.SweepContext) -> dict:
    d = asdict(ctx)
    d["pass"] = d.pop("pass_")
    return d


# ---- the report of one sweep ------------------------------------------------------------------
def report_rows(sweep: Sweep) -> list[dict]:
    require(sweep, SUMMARY, REPORT_FIELDS)
    return analysis.points(sweep.summary)


def _report_line(r: dict) -> tuple:
    return (str(r["procs"]), with_interval(r, "time_s"),
            fmt_range(r["time_min_s"], r["time_max_s"]), fmt_ranks(r["mem_per_rank_mb"]),
            fmt_mb(r["mem_total_mb"]), r["output_shape"] or "-",
            with_interval(r, "speedup", fmt_fixed), with_interval(r, "efficiency", fmt_percent),
            fmt_fixed(r["karp_flatt"]), fmt_time(r["compute_s"]), fmt_time(r["comm_s"]),
            launches_x_repeats(r), "yes" if r["verified"] else "no", status_text(r))


def interval_notes(rows: list[dict]) -> list[str]:
    """'P = 1, 2: too few samples: 1 launch' per reason, for the points with a figure that
    has no interval."""
    by_note: dict[str, list[str]] = {}
    for r in rows:
        lacking = [v for v in analysis.INTERVAL_COLUMNS
                   if not _nan(r.get(v)) and _nan(analysis.interval(r, v)[0])]
        if lacking:
            by_note.setdefault(visible(analysis.interval_note(r)), []).append(str(r["procs"]))
    return [f"P = {', '.join(ps)}: {note}" for note, ps in by_note.items()]


def report_markdown(sweep: Sweep) -> str:
    ctx = analysis.sweep_context(sweep.manifest, sweep.path.name)
    rows = report_rows(sweep)
    lines = [f"### {ctx.title}", "", ctx.caption, ""]
    lines += _md_table(REPORT_HEADER, "rrrlrlrrrrrrcl", [_report_line(r) for r in rows])
    lines += ["", PRECISION_NOTE, "", STATUS_NOTE]
    notes = interval_notes(rows)
    if notes:
        lines += ["", "No interval (too few samples):", ""] + [f"- {n}" for n in notes]
    timed = [r for r in rows if not _nan(r["wall_s"])]
    if timed:           # sweeps written before the stages were recorded have none
        lines += ["", "Where each point's wall time went (s):", ""]
        lines += _md_table(STAGES_HEADER, "rrrrrrrr", [
            (str(r["procs"]), *(fmt_fixed(r[k], 2) for k in ("wall_s", *records.STAGES)))
            for r in timed])
        lines += ["", STAGES_NOTE]
    if ctx.mode == "weak":
        lines.append("")
        lines.append("Weak scaling: Speedup is the scaled speedup P T(P0) / T(P), Efficiency "
                     "T(P0) / T(P); the serial fraction is for strong scaling only.")
    if any(r["oversubscribed"] for r in rows):
        lines.append("")
        lines.append(f"Oversubscribed points ran more ranks than the {ctx.slots} slots: their "
                     "times measure contention, not scaling.")
    return "\n".join(lines) + "\n"


def report_csv(sweep: Sweep) -> str:
    return _csv(REPORT_FIELDS, report_rows(sweep))


def report_json(sweep: Sweep) -> str:
    ctx = analysis.sweep_context(sweep.manifest, sweep.path.name)
    pts = [{f: r[f] for f in REPORT_FIELDS} for r in report_rows(sweep)]
    return _json({"sweep": _context_dict(ctx), "points": pts})


def render_report(sweep: Sweep, fmt: str = "markdown") -> str:
    return {"markdown": report_markdown, "csv": report_csv, "json": report_json}[check_format(fmt)](sweep)


def render_many(rendered: list[tuple[str, str]], fmt: str) -> str:
    """Several sweeps' tables, oldest first, from (sweep name, that sweep's rendering in fmt):
    Markdown one after another; CSV one table with a first column naming the sweep; JSON a
    list. One sweep is its own rendering."""
    if len(rendered) == 1:
        return rendered[0][1]
    if fmt == "markdown":
        return "\n".join(text for _, text in rendered)
    if fmt == "json":
        items = [{"name": name, **json.loads(text)} for name, text in rendered]
        return json.dumps(items, indent=2) + "\n"
    out = []
    for i, (name, text) in enumerate(rendered):
        rows = list(csv.reader(io.StringIO(text)))
        out += ([["sweep", *rows[0]]] if i == 0 else []) + [[name, *r] for r in rows[1:]]
    return csv_lines(out)


# ---- the comparison of two sweeps -------------------------------------------------------------
def _side_line(label: str, ctx: analysis.SweepContext) -> str:
    return f"{label}: {ctx.name}: {ctx.title}; {ctx.caption.rsplit(';', 1)[0]}"


def _sizes(launches: int, repeats: int) -> str:
    return f"{launches} x {repeats}" if launches else "-"


def _p(v) -> str:
    return "-" if _nan(v) else "<0.001" if v < 0.001 else f"{v:.3f}"


def compare_markdown(cmp) -> str:
    from convbench.reporting.compare import METHOD_NOTE
    body = [
        (str(c.procs), fmt_time(c.a_time_s), _sizes(c.a_launches, c.a_repeats),
         fmt_time(c.b_time_s), _sizes(c.b_launches, c.b_repeats), fmt_fixed(c.ratio),
         fmt_range(c.ratio_lo, c.ratio_hi, fmt_fixed), _p(c.p_value), c.verdict or "-",
         c.note or "-")
        for c in cmp.points
    ]
    lines = ["### B / A per P", "", _side_line("A", cmp.a), "", _side_line("B", cmp.b), ""]
    lines += _md_table(COMPARE_HEADER, "rrrrrrrrll", body)
    lines += ["", f"{METHOD_NOTE} Threshold: {100 * cmp.threshold:g}%."]
    if cmp.warnings:
        lines += [""] + [f"- warning: {w}" for w in cmp.warnings]
    return "\n".join(lines) + "\n"


def compare_csv(cmp) -> str:
    return _csv(COMPARE_FIELDS, [asdict(c) for c in cmp.points])


def compare_json(cmp) -> str:
    return _json({"a": _context_dict(cmp.a), "b": _context_dict(cmp.b),
                  "threshold": cmp.threshold,
                  "points": [{f: asdict(c)[f] for f in COMPARE_FIELDS} for c in cmp.points],
                  "warnings": list(cmp.warnings)})


def render_compare(cmp, fmt: str = "markdown") -> str:
    return {"markdown": compare_markdown, "csv": compare_csv, "json": compare_json}[check_format(fmt)](cmp)
