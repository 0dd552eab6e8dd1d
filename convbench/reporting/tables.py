"""Exporters of the report table (one sweep) and of the compare table (two sweeps).

Only formatting: every number is the one in summary.csv (read back by analysis.points) or the
one compare.compare computed. Three formats:

- markdown: the original report's table, for people. Fixed precision, documented under the
  table: times in seconds with 4 significant digits, memory in MB with 1 decimal, speedup
  and the Karp-Flatt serial fraction with 3 decimals, efficiency in percent with 1 decimal,
  ratios with 3 decimals; '-' where there is no value.
- csv: the same columns with the full-precision values of summary.csv, for programs.
- json: {"sweep": {...}, "points": [...]} (or {"a", "b", "points", "warnings"}), NaN as null.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict

from convbench.reporting import stats as analysis
from convbench.core.errors import UsageError
from convbench.results import records
from convbench.results.store import SUMMARY, Sweep, require
from convbench.workload import phases

FORMATS = ("markdown", "csv", "json")

#: the report's Markdown columns, the first five as in the original report
REPORT_HEADER = (
    "# Processes", "Execution Time (max)", "Min-Max (s)", "Memory Usage per Rank (MB)",
    "Total Memory Usage (MB)", "Output Shape", "Speedup", "Efficiency",
    "Serial Fraction (Karp-Flatt)", "Compute (s)", "Communication (s)", "Verified", "Status",
)
#: the report's CSV/JSON fields (names of summary.csv)
REPORT_FIELDS = records.pick(
    records.PointRow,
    "procs", "time_s", "time_min_s", "time_max_s", "mem_per_rank_mb", "mem_total_mb",
    "output_shape", "speedup", "efficiency", "karp_flatt", "compute_s", "comm_s",
    "verified", "oversubscribed", "status", "reason", *records.STAGES, "wall_s",
)
#: the Markdown table of where each point's wall time went
STAGES_HEADER = ("# Processes", "Wall (s)", "Launch", "Data", "Warm-up", "Repeats", "Verify",
                 "Write")
STAGES_NOTE = (
    "Wall: from starting mpiexec until it exited, in seconds; Launch: until every rank had "
    "Python, its imports and MPI; Data: until every rank had its input and buffers; Warm-up "
    "and Repeats: the untimed and the timed steps; Verify: coverage, finiteness, checksum and "
    "the reference check; Write: rank 0's result, MPI's finalisation and the ranks' exit.")
#: ranks listed one by one in the Markdown memory column; above, rank 0 and the others' range
MAX_RANKS_LISTED = 8

COMPARE_HEADER = ("# Processes", "A time (s)", "A min-max (s)", "B time (s)", "B min-max (s)",
                  "B/A", "B/A min-max", "Note")
COMPARE_FIELDS = ("procs", "a_time_s", "a_min_s", "a_max_s", "a_status", "b_time_s", "b_min_s",
                  "b_max_s", "b_status", "ratio", "ratio_min", "ratio_max", "overlap", "note")

PRECISION_NOTE = (
    "Execution Time (max): the median over the repeats of the slowest rank's time, in seconds "
    "(summary.csv time_s); Min-Max: the fastest and slowest repeat. Times have 4 significant "
    "digits, memory (peak RSS, MB) 1 decimal, speedup and serial fraction 3 decimals, "
    "efficiency 1 decimal in percent. Compute and Communication: medians over the repeats of "
    f"the maximum over ranks of the compute time and of the {phases.comm_text()} time.")


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return fmt


# ---- cell formatting --------------------------------------------------------------------------
def _nan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def fmt_time(v) -> str:
    return "-" if _nan(v) else f"{v:.4g}"


def fmt_mb(v) -> str:
    return "-" if _nan(v) else f"{v:.1f}"


def fmt_fixed(v, digits: int = 3) -> str:
    return "-" if _nan(v) else f"{v:.{digits}f}"


def fmt_percent(v) -> str:
    return "-" if _nan(v) else f"{100 * v:.1f}%"


def fmt_range(lo, hi, fmt=fmt_time) -> str:
    return "-" if _nan(lo) or _nan(hi) else f"[{fmt(lo)}, {fmt(hi)}]"


def fmt_ranks(mem: list[float]) -> str:
    if not mem:
        return "-"
    if len(mem) <= MAX_RANKS_LISTED:
        return ", ".join(fmt_mb(m) for m in mem)
    return f"rank 0: {fmt_mb(mem[0])}; ranks 1-{len(mem) - 1}: {fmt_mb(min(mem[1:]))}-{fmt_mb(max(mem[1:]))}"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|") or "-"


def _md_table(header, aligns, rows) -> list[str]:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join({"r": "---:", "l": ":---", "c": ":---:"}[a] for a in aligns) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _plain(v):
    """A value for CSV/JSON: NaN -> None, lists space-joined for CSV by the caller."""
    if _nan(v):
        return None
    return v


def _csv(fields, records) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(fields)
    for rec in records:
        row = []
        for f in fields:
            v = rec.get(f)
            if isinstance(v, bool):
                v = "true" if v else "false"
            elif isinstance(v, (list, tuple)):
                v = " ".join(repr(x) for x in v)
            elif isinstance(v, float):
                v = "" if math.isnan(v) else repr(v)
            row.append("" if v is None else v)
        w.writerow(row)
    return buf.getvalue()


def _json(obj) -> str:
    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return _plain(v)
    return json.dumps(clean(obj), indent=2) + "\n"


def _context_dict(ctx: analysis.SweepContext) -> dict:
    d = asdict(ctx)
    d["pass"] = d.pop("pass_")
    return d


# ---- the report of one sweep ------------------------------------------------------------------
def _status(r: dict) -> str:
    s = r["status"] or "-"
    if r["oversubscribed"]:
        s += ", oversubscribed"
    if r["reason"]:
        s += f": {r['reason']}"
    return s


def report_rows(sweep: Sweep) -> list[dict]:
    require(sweep, SUMMARY, REPORT_FIELDS)
    return analysis.points(sweep.summary)


def report_markdown(sweep: Sweep) -> str:
    ctx = analysis.sweep_context(sweep.manifest, sweep.path.name)
    rows = report_rows(sweep)
    body = [
        (str(r["procs"]), fmt_time(r["time_s"]), fmt_range(r["time_min_s"], r["time_max_s"]),
         fmt_ranks(r["mem_per_rank_mb"]), fmt_mb(r["mem_total_mb"]), r["output_shape"] or "-",
         fmt_fixed(r["speedup"]), fmt_percent(r["efficiency"]), fmt_fixed(r["karp_flatt"]),
         fmt_time(r["compute_s"]), fmt_time(r["comm_s"]), "yes" if r["verified"] else "no",
         _status(r))
        for r in rows
    ]
    lines = [f"### {ctx.title}", "", ctx.caption, ""]
    lines += _md_table(REPORT_HEADER, "rrrlrlrrrrrcl", body)
    lines += ["", PRECISION_NOTE]
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
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(out)
    return buf.getvalue()


# ---- the comparison of two sweeps -------------------------------------------------------------
def _side_line(label: str, ctx: analysis.SweepContext) -> str:
    return f"{label}: {ctx.name}: {ctx.title}; {ctx.caption.rsplit(';', 1)[0]}"


def compare_markdown(cmp) -> str:
    body = [
        (str(c.procs), fmt_time(c.a_time_s), fmt_range(c.a_min_s, c.a_max_s),
         fmt_time(c.b_time_s), fmt_range(c.b_min_s, c.b_max_s), fmt_fixed(c.ratio),
         fmt_range(c.ratio_min, c.ratio_max, fmt_fixed), c.note or "-")
        for c in cmp.points
    ]
    lines = ["### B / A per P", "", _side_line("A", cmp.a), "", _side_line("B", cmp.b), ""]
    lines += _md_table(COMPARE_HEADER, "rrrrrrrl", body)
    lines += ["", "Times: the median over the repeats of the slowest rank's time, in seconds, 4 "
              "significant digits. B/A below 1: B is faster. B/A min-max: [B min / A max, "
              "B max / A min] (3 decimals); where the A and B ranges overlap the difference is "
              "within noise."]
    if cmp.warnings:
        lines += [""] + [f"- warning: {w}" for w in cmp.warnings]
    return "\n".join(lines) + "\n"


def compare_csv(cmp) -> str:
    return _csv(COMPARE_FIELDS, [asdict(c) for c in cmp.points])


def compare_json(cmp) -> str:
    return _json({"a": _context_dict(cmp.a), "b": _context_dict(cmp.b),
                  "points": [{f: asdict(c)[f] for f in COMPARE_FIELDS} for c in cmp.points],
                  "warnings": list(cmp.warnings)})


def render_compare(cmp, fmt: str = "markdown") -> str:
    return {"markdown": compare_markdown, "csv": compare_csv, "json": compare_json}[check_format(fmt)](cmp)
