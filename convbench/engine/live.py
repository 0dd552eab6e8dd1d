"""Terminal output of a sweep: the live progress display and the final table (rich).

Only formats: every number comes from the summary rows that analysis/point computed; the
cells of a figure with its 95% interval, of the status with its noise flags and of text from
outside (names, reasons: control characters escaped) are reporting/cells.py's.
"""
from __future__ import annotations

import math
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.markup import escape
from rich.table import Table

from convbench.core.text import visible
from convbench.reporting import cells, stats
from convbench.results.records import STAGES


def _num(v, fmt: str, dash: str = "-") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return dash
    return format(v, fmt)


def _mem_per_rank(v) -> str:
    if isinstance(v, str):
        v = [float(x) for x in v.split()] if v else []
    if not v:
        return "-"
    if len(v) <= 4:
        return "[" + ", ".join(f"{x:.0f}" for x in v) + "]"
    return f"r0 {v[0]:.0f}, others {min(v[1:]):.0f}-{max(v[1:]):.0f}"


def _fmt(spec: str):
    return lambda v: _num(v, spec)


def summary_table(rows: list[dict], title: str = "") -> Table:
    """Per P: time (median) with its 95% interval, speedup and efficiency with theirs (or why
    there is none), launches x repeats, memory per rank, verified, status ('flagged': see
    flag_lines) and why the launches stopped. The min-max of the repeats, the total memory
    and the output's shape are in summary.csv and the report."""
    t = Table(title=visible(title) or None, title_justify="left", header_style="bold")
    for name, justify in (("P", "right"), ("batch", "right"), ("time s [95% CI]", "right"),
                          ("speedup", "right"), ("efficiency", "right"),
                          ("launches x repeats", "right"), ("mem/rank MB", "left"),
                          ("verified", "center"), ("status", "left")):
        t.add_column(name, justify=justify, no_wrap=name != "status")
    for r in rows:
        reason = str(r.get("reason") or "").split(" (log:")[0]
        status = cells.status_text({**r, "reason": reason}, reason_chars=90, flags=False,
                                   budget_below=True)
        t.add_row(
            str(r["procs"]), str(r["batch"]), cells.with_interval(r, "time_s", _fmt(".4f")),
            cells.with_interval(r, "speedup", _fmt(".2f")),
            cells.with_interval(r, "efficiency", _fmt(".0%")), cells.launches_x_repeats(r),
            _mem_per_rank(r.get("mem_per_rank_mb")),
            "yes" if r.get("verified") else "[red]no[/red]",
            escape(status) if r.get("status") == "ok" else f"[red]{escape(status)}[/red]",
        )
    return t


def flag_lines(rows: list[dict]) -> list[str]:
    """One line per flagged point, for under the table: 'P=2: cv 14%; 2 modes (...)'."""
    return [visible(f"P={r['procs']}: {stats.as_text(r.get('flags'))}") for r in rows
            if stats.as_text(r.get("flags"))]


def budget_line(rows: list[dict]) -> str:
    """The line under the table when the budget stopped points short of an interval: how
    many launches fitted, and what the intervals would take (the launches still missing, at
    each point's own mean launch wall time). '' when no point was cut short."""
    short = [r for r in rows if cells.cut_short_by_budget(r)]
    if not short:
        return ""
    from convbench.reporting.uncertainty import MIN_LAUNCHES
    more = sum(r["wall_s"] / stats.launches(r) * (MIN_LAUNCHES - stats.launches(r))
               for r in short if isinstance(r.get("wall_s"), float) and math.isfinite(r["wall_s"]))
    lo, hi = min(stats.launches(r) for r in short), max(stats.launches(r) for r in short)
    return (f"{lo if lo == hi else f'{lo}-{hi}'} launch(es) per point "
            f"fitted in the sweep's time budget; a 95% interval needs {MIN_LAUNCHES}: "
            f"--launches {MIN_LAUNCHES} gives them (about {more:.0f} s more here), "
            "--target-ci PCT narrows them")


#: the short names of the stages of a point's wall time (records.STAGES), in order
STAGE_NAMES = dict(zip(STAGES, ("launch", "data", "warm-up", "repeats", "verify", "write"),
                       strict=True))


def stages_line(row: dict) -> str:
    """'wall 4.12 s = launch 0.38 + data 1.02 + ...' from a summary row; '' if not measured."""
    wall = row.get("wall_s")
    if wall is None or (isinstance(wall, float) and math.isnan(wall)):
        return ""
    parts = [f"{name} {_num(row.get(k), '.2f')}" for k, name in STAGE_NAMES.items()]
    return f"wall {wall:.2f} s = " + " + ".join(parts)


def _ci(row: dict, value: str, spec: str) -> str:
    """' [lo-hi]': the 95% interval of a row's figure; '' where it has none."""
    lo, hi = stats.interval(row, value)
    return "" if math.isnan(lo) else escape(f" [{lo:{spec}}-{hi:{spec}}]")


def point_text(row: dict) -> str:
    """A point as it stands after a launch: '0.1710 s [0.1690-0.1730], speedup 1.16
    [1.10-1.20], 3 launch(es)', or why it has no interval yet, and its noise flags."""
    if row.get("status") != "ok":
        return "failed"
    def shown(value: str, spec: str) -> str:
        ci = _ci(row, value, spec)
        v = row.get(value)
        missing = not ci and v is not None and not (isinstance(v, float) and math.isnan(v))
        return ci or (" (no interval yet)" if missing and row.get("ci_note") else "")
    text = (f"{row['time_s']:.4f} s{shown('time_s', '.4f')}, speedup "
            f"{_num(row.get('speedup'), '.2f')}{shown('speedup', '.2f')}, "
            f"{row.get('launches', 0)} launch(es)")
    flags = stats.as_text(row.get("flags"))
    return text + escape(f"; {visible(flags)}" if flags else "")


class LiveProgress:
    """A rich progress bar over the launches of a sweep, with a line per finished launch."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=self.console,
                                 transient=True)
        self.task = None
        self.planned = 1            # launches per point before the point's line is printed

    def sweep_started(self, plan, sweep_dir: Path, mpi, slots: int) -> None:
        c = self.console
        m, po = plan.measured, plan.policy
        self.planned = po.launches
        c.print(f"[bold]convbench {plan.mode}[/bold]: {escape(visible(plan.describe()))}"
                + f"; pass {m.pass_}, data {m.data}; {po.launches} launches of {po.warmup} warm-up + "
                f"{po.repeats} repeats per point, order {po.order} (seed {po.order_seed})"
                + (f", up to {po.most_launches} launches for a {po.target_ci:g}% interval"
                   if po.target_ci is not None else "")
                + (f", budget {po.budget:g} s" if po.budget is not None else ""))
        c.print(f"MPI: {mpi.vendor} ({escape(visible(mpi.path))}), {slots} slots; results: "
                f"{escape(visible(sweep_dir))}")
        over = [p for p in plan.procs if p > slots]
        if over:
            c.print(f"[yellow]P = {', '.join(map(str, over))} exceed the {slots} available slots: "
                    "those ranks share cores (oversubscribed), so their times measure contention, "
                    "not scaling.[/yellow]")
        self.progress.start()
        self.task = self.progress.add_task("starting", total=len(plan.procs))

    def note(self, line: str) -> None:
        self.console.print(f"[yellow]{escape(line)}[/yellow]")

    def launches_planned(self, total: int) -> None:
        self.progress.update(self.task, total=total)

    def launch_started(self, slot, batch: int, oversubscribed: bool) -> None:
        note = " (oversubscribed)" if oversubscribed else ""
        self.progress.update(self.task, description=f"round {slot.round}: P={slot.procs}, "
                                                    f"batch {batch}{note}")

    def launch_finished(self, slot, launch_row: dict, row: dict) -> None:
        """A line per launch: its own time and where its wall time went; after a point's
        planned launches (and after each extra one), the point as it stands: pooled, with its
        interval once there is one."""
        self.progress.advance(self.task)
        head = f"  P={slot.procs} launch {slot.launch} (round {slot.round})"
        if launch_row["status"] != "ok":
            self.console.print(f"  [red]{head}: failed: {escape(visible(launch_row.get('reason', '')))}[/red]")
        else:
            line = stages_line(launch_row)
            self.console.print(f"{head}: {launch_row['time_s']:.4f} s" + (f"; [dim]{escape(line)}[/dim]" if line else ""))
        if slot.launch + 1 >= self.planned and row.get("status") == "ok":
            self.console.print(f"  [bold]P={slot.procs}[/bold]: {point_text(row)}")

    def launches_kept(self, count: int) -> None:
        self.progress.advance(self.task, count)
        self.console.print(f"  {count} launch(es) kept from an earlier session")

    def sweep_finished(self) -> None:
        self.progress.stop()
