"""The text of a table cell, defined once for the report (tables.py) and the terminal table of a
running sweep (engine/live.py): numbers at a fixed precision, a figure with its 95% interval
or the reason it has none, the status with its noise flags and stop reason, and text from
outside (host, workload and MPI names, failure reasons) made safe to print.

- a figure with an interval: "0.1976 [0.195-0.201]"; without one: "0.1976 (too few samples)"
  (the short form of the point's note, stats.interval_note); '-' where there is no value;
- visible() (core/text.py): control characters (a newline, ESC, ...) written as escapes (\\n, \\x1b), so a
  name can neither break a Markdown table nor send a terminal escape sequence;
- Markdown cells and tables, CSV (the csv module quotes; values kept) and JSON (NaN as null).
"""
from __future__ import annotations

import csv
import io
import json
import math

from convbench.core.text import visible
from convbench.reporting import stats


def missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def fmt_time(v) -> str:
    return "-" if missing(v) else f"{v:.4g}"


def fmt_mb(v) -> str:
    return "-" if missing(v) else f"{v:.1f}"


def fmt_fixed(v, digits: int = 3) -> str:
    return "-" if missing(v) else f"{v:.{digits}f}"


def fmt_percent(v) -> str:
    return "-" if missing(v) else f"{100 * v:.1f}%"


def fmt_range(lo, hi, fmt=fmt_time) -> str:
    return "-" if missing(lo) or missing(hi) else f"[{fmt(lo)}, {fmt(hi)}]"


# ---- a figure and its interval -------------------------------------------------------------
def short_note(note: str) -> str:
    """The brief form of a point's interval note, for a cell: its part before the first ':'
    ('too few samples: 2 launches, 5 needed' -> 'too few samples')."""
    return visible(note.split(":", 1)[0].strip()) or "no interval"


def with_interval(r: dict, value: str, fmt=fmt_time) -> str:
    """A row's figure (time_s, speedup or efficiency) with its 95% interval, '0.1976
    [0.195-0.201]'; without an interval the short reason, '1.000 (too few samples)'; '-'
    without a value (a failed point; the speedup of an unverified one)."""
    v = stats.as_float(r.get(value))
    if math.isnan(v):
        return "-"
    lo, hi = stats.interval(r, value)
    if not (math.isnan(lo) or math.isnan(hi)):
        return f"{fmt(v)} [{fmt(lo)}-{fmt(hi)}]"
    return f"{fmt(v)} ({short_note(stats.interval_note(r))})"


def launches_x_repeats(r: dict) -> str:
    """'5 x 3': the launches a point's figures pool and the timed repeats of each; '-' for a
    point without a time."""
    n = stats.launches(r)
    reps = stats.as_int(r.get("repeats"))
    return "-" if not n or missing(reps) else f"{n} x {reps}"


#: how a point's stop reason (PointRow.stopped) reads; 'launches' (the planned launches ran),
#: 'failed' (the status says so) and '' are not shown
STOP_TEXT = {"target": "stopped: interval within --target-ci",
             "max-launches": "stopped: --max-launches reached before --target-ci",
             "budget": "stopped: budget"}


def cut_short_by_budget(r: dict) -> bool:
    """A measured point whose launches the time budget stopped before it had enough for an
    interval (engine/live.budget_line says so once, under the table)."""
    if stats.as_text(r.get("stopped")) != "budget" or r.get("status") != "ok":
        return False
    from convbench.reporting.uncertainty import MIN_LAUNCHES    # scipy: only here
    return 0 < stats.launches(r) < MIN_LAUNCHES


def stop_text(r: dict) -> str:
    s = stats.as_text(r.get("stopped"))
    return "" if s in ("", "launches", "failed") else STOP_TEXT.get(s, f"stopped: {visible(s)}")


def status_text(r: dict, reason_chars: int | None = None, flags: bool = True,
                budget_below: bool = False) -> str:
    """'ok', then ', oversubscribed', the noise flags ('; cv 14%'; with flags=False only
    '; flagged', for a narrow table that lists them below it), the stop reason (with
    budget_below, not for a point cut_short_by_budget: engine/live.budget_line says it once
    under the table) and ': ' with the failure's reason (cut to reason_chars):
    printable text, never a raw control character."""
    s = stats.as_text(r.get("status")) or "-"
    if r.get("oversubscribed"):
        s += ", oversubscribed"
    extra = [f for f in stats.as_text(r.get("flags")).split(";") if f.strip()]
    if not flags and extra:
        extra = ["flagged"]
    stop = "" if budget_below and cut_short_by_budget(r) else stop_text(r)
    extra = [f.strip() for f in extra] + [stop]
    s = "; ".join([s, *(x for x in extra if x)])
    reason = stats.as_text(r.get("reason"))
    if reason_chars is not None and len(reason) > reason_chars:
        reason = reason[:reason_chars] + "..."
    return visible(s + (f": {reason}" if reason else ""))


# ---- Markdown, CSV and JSON ----------------------------------------------------------------
def md_cell(text) -> str:
    """A Markdown table cell: control characters escaped, runs of spaces as one, '|' as '\\|'."""
    return " ".join(visible(text).split()).replace("|", "\\|") or "-"


def md_table(header, aligns, rows) -> list[str]:
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |",
             "|" + "|".join({"r": "---:", "l": ":---", "c": ":---:"}[a] for a in aligns) + "|"]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return lines


def plain(v):
    """A value for JSON: NaN -> None."""
    return None if missing(v) else v


def csv_lines(rows) -> str:
    """Rows (lists of cells) as CSV lines ending in '\\n'. A field that holds a '\\r' or a
    '\\n' is quoted (the csv module quotes only the line terminator's characters, so it writes
    each row with '\\r\\n' and the row's end is then made '\\n')."""
    out = []
    for row in rows:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\r\n").writerow(row)
        out.append(buf.getvalue()[:-2] + "\n")
    return "".join(out)


def csv_text(fields, rows) -> str:
    """rows (dicts) under the header fields; lists space-joined, NaN empty, booleans
    true/false; text kept as it is, quoted where it must be (csv_lines)."""
    lines = [list(fields)]
    for rec in rows:
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
        lines.append(row)
    return csv_lines(lines)


def json_text(obj) -> str:
    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return plain(v)
    return json.dumps(clean(obj), indent=2) + "\n"
