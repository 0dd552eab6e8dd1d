"""Terminal output of a sweep: the live progress display and the final table (rich).

Only formats: every number comes from the summary rows that analysis/point computed.
"""
from __future__ import annotations

import math
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.markup import escape
from rich.table import Table

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


def summary_table(rows: list[dict], title: str = "") -> Table:
    """Per P: time (median, min-max), speedup, efficiency, memory, shape, verified, status."""
    t = Table(title=title or None, title_justify="left", header_style="bold")
    for name, justify in (("P", "right"), ("batch", "right"), ("time s (median)", "right"),
                          ("min-max s", "right"), ("speedup", "right"), ("efficiency", "right"),
                          ("mem/rank MB", "left"), ("total MB", "right"), ("output", "left"),
                          ("verified", "center"), ("status", "left")):
        t.add_column(name, justify=justify, no_wrap=name != "status")
    for r in rows:
        status = r.get("status", "")
        if r.get("oversubscribed"):
            status += " (oversubscribed)"
        if r.get("reason"):
            reason = str(r["reason"]).split(" (log:")[0]
            status += f": {reason[:90]}" + ("..." if len(reason) > 90 else "")
        ok = r.get("status") == "ok"
        t.add_row(
            str(r["procs"]), str(r["batch"]), _num(r.get("time_s"), ".4f"),
            f"{_num(r.get('time_min_s'), '.4f')}-{_num(r.get('time_max_s'), '.4f')}"
            if ok else "-",
            _num(r.get("speedup"), ".2f"), _num(r.get("efficiency"), ".0%"),
            _mem_per_rank(r.get("mem_per_rank_mb")), _num(r.get("mem_total_mb"), ".0f"),
            str(r.get("output_shape", "")),
            "yes" if r.get("verified") else "[red]no[/red]",
            escape(status) if ok else f"[red]{escape(status)}[/red]",
        )
    return t


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


def _interval(v, lo, hi, fmt: str, note: str, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if all(x is not None and math.isfinite(x) for x in (lo, hi)):
        return f"{format(v, fmt)} [{format(lo, fmt)}-{format(hi, fmt)}]{unit}"
    return format(v, fmt) + unit + (" (no interval yet)" if note else "")


def point_text(row: dict) -> str:
    """A point as it stands: 'P=2: 0.1710 s [0.1690-0.1730], speedup 1.16 [1.10-1.20], 3 launches'."""
    if row.get("status") != "ok":
        return "failed"
    note = row.get("ci_note") or ""
    text = (f"{_interval(row.get('time_s'), row.get('time_lo_s'), row.get('time_hi_s'), '.4f', note, ' s')}"
            f", speedup {_interval(row.get('speedup'), row.get('speedup_lo'), row.get('speedup_hi'), '.2f', note)}"
            f", {row.get('launches', 0)} launch(es)")
    return text + (f"; {row['flags']}" if row.get("flags") else "")


class LiveProgress:
    """A rich progress bar over the launches of a sweep, with a line per finished launch."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=self.console,
                                 transient=True)
        self.task = None

    def sweep_started(self, plan, sweep_dir: Path, mpi, slots: int) -> None:
        c = self.console
        m, po = plan.measured, plan.policy
        c.print(f"[bold]convbench {plan.mode}[/bold]: {escape(plan.describe())}"
                + f"; pass {m.pass_}, data {m.data}; {po.launches} launches of {po.warmup} warm-up + "
                f"{po.repeats} repeats per point, order {po.order} (seed {po.order_seed})"
                + (f", up to {po.most_launches} launches for a {po.target_ci:g}% interval"
                   if po.target_ci is not None else "")
                + (f", budget {po.budget:g} s" if po.budget is not None else ""))
        c.print(f"MPI: {mpi.vendor} ({escape(mpi.path)}), {slots} slots; results: {escape(str(sweep_dir))}")
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
        """A line per launch: its own time, then the point's so far (pooled, with its
        interval once there is one), and where the launch's wall time went."""
        self.progress.advance(self.task)
        head = f"  P={slot.procs} launch {slot.launch} (round {slot.round})"
        if launch_row["status"] != "ok":
            self.console.print(f"  [red]{head}: failed: {escape(str(launch_row.get('reason', '')))}[/red]")
        else:
            self.console.print(f"{head}: {launch_row['time_s']:.4f} s; point "
                               f"{escape(point_text(row))}")
        line = stages_line(launch_row)
        if line:
            self.console.print(f"    [dim]{escape(line)}[/dim]")

    def launches_kept(self, count: int) -> None:
        self.progress.advance(self.task, count)
        self.console.print(f"  {count} launch(es) kept from an earlier session")

    def sweep_finished(self) -> None:
        self.progress.stop()
