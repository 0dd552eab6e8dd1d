"""The terminal output of a sweep: the progress lines (a point's figures with their intervals,
where its wall time went) and the final table (intervals, launches x repeats, flags, stops)."""
from __future__ import annotations

import io
import math

from rich.console import Console

from convbench.engine import live
from convbench.results import records

nan = math.nan


def row(**k) -> dict:
    base = {"procs": 2, "status": "ok", "time_s": 0.5, "speedup": 1.5, "wall_s": 4.0,
            "launch_s": 0.4, "data_s": 1.0, "warmup_s": 0.6, "repeats_s": 1.5, "verify_s": 0.3,
            "write_s": 0.1}
    return {**base, **k}


def test_the_stage_line_names_every_stage_in_order():
    line = live.stages_line(row())
    assert line == ("wall 4.00 s = launch 0.40 + data 1.00 + warm-up 0.60 + repeats 1.50 + "
                    "verify 0.30 + write 0.10")
    assert list(live.STAGE_NAMES) == list(records.STAGES)


def test_no_stage_line_without_a_wall_time_and_dashes_for_missing_stages():
    assert live.stages_line(row(wall_s=math.nan)) == ""
    assert live.stages_line({"procs": 1}) == ""
    assert "data -" in live.stages_line(row(data_s=math.nan))


def test_each_launch_prints_its_time_and_stages_and_a_point_its_figures_once_launched():
    from convbench.engine.schedule import Slot
    out = io.StringIO()
    progress = live.LiveProgress(Console(file=out, width=250))
    progress.task = progress.progress.add_task("x", total=2)
    progress.planned = 3
    point = row(launches=3, time_lo_s=0.45, time_hi_s=0.55, speedup_lo=1.4, speedup_hi=1.6)
    progress.launch_finished(Slot(2, 1, 1, 3), row(time_s=0.51), point)
    assert "P=2:" not in out.getvalue()            # the point's line waits for its launches
    progress.launch_finished(Slot(2, 2, 2, 7), row(time_s=0.52), point)
    progress.launch_finished(Slot(2, 3, 3, 9), row(status="failed", reason="boom", wall_s=2.0),
                             row(status="failed"))
    text = out.getvalue()
    assert "P=2 launch 2 (round 2): 0.5200 s; wall 4.00 s = launch 0.40 + data 1.00" in text
    assert ("P=2: 0.5000 s [0.4500-0.5500], speedup 1.50 [1.40-1.60], 3 launch(es)") in text
    assert text.count("P=2: ") == 1
    assert "P=2 launch 3 (round 3): failed: boom" in text


def test_a_point_without_an_interval_says_so_instead_of_a_number():
    text = live.point_text(row(launches=2, ci_note="too few samples: 2 launches, 3 needed"))
    assert text.startswith("0.5000 s (no interval yet), speedup 1.50 (no interval yet), 2 launch(es)")
    assert live.point_text(row(flags="cv 14%")).endswith("; cv 14%")


def table_text(rows, title="") -> str:
    out = io.StringIO()
    Console(file=out, width=250).print(live.summary_table(rows, title))
    return out.getvalue()


def point_row(**k) -> dict:
    base = {"procs": 2, "batch": 16, "status": "ok", "verified": True, "repeats": 3,
            "launches": 5, "time_s": 0.1976, "time_lo_s": 0.195, "time_hi_s": 0.201,
            "speedup": 1.9, "speedup_lo": 1.85, "speedup_hi": 1.96, "efficiency": 0.95,
            "efficiency_lo": 0.925, "efficiency_hi": 0.98, "ci_note": "", "flags": "",
            "stopped": "launches", "mem_per_rank_mb": [70.0, 60.0], "mem_total_mb": 130.0,
            "output_shape": "16x3x24x21", "reason": ""}
    return {**base, **k}


def test_the_table_shows_intervals_launches_flags_and_stops():
    text = table_text([
        point_row(procs=1, speedup=1.0, speedup_lo=1.0, speedup_hi=1.0, efficiency=1.0,
                  efficiency_lo=1.0, efficiency_hi=1.0),
        point_row(flags="cv 14%", stopped="budget"),
        point_row(procs=4, launches=2, time_lo_s=nan, time_hi_s=nan, speedup=3.0,
                  speedup_lo=nan, speedup_hi=nan, efficiency=0.75, efficiency_lo=nan,
                  efficiency_hi=nan, ci_note="too few samples: 2 launches, 3 needed",
                  stopped="max-launches")])
    assert "0.1976 [0.1950-0.2010]" in text and "1.90 [1.85-1.96]" in text
    assert "95% [92%-98%]" in text and "5 x 3" in text and "2 x 3" in text
    assert "0.1976 (too few samples)" in text and "3.00 (too few samples)" in text
    assert "75% (too few samples)" in text
    assert "ok; flagged; stopped: budget" in text and "cv 14%" not in text
    assert live.flag_lines([point_row(flags="cv 14%"), point_row(procs=1)]) == ["P=2: cv 14%"]
    assert "stopped: --max-launches reached" in text and "time s [95% CI]" in text
    assert "stopped: launches" not in text and "min-max" not in text


def test_a_budget_that_cut_points_short_of_an_interval_says_what_intervals_would_take():
    rows = [point_row(procs=1, launches=1, stopped="budget", wall_s=2.0),
            point_row(procs=2, launches=1, stopped="budget", wall_s=3.0),
            point_row(procs=4, launches=1, stopped="budget", wall_s=nan)]
    line = live.budget_line(rows)
    assert line.startswith("1 launch(es) per point fitted in the sweep's time budget")
    assert "needs 5: --launches 5 gives them (about 20 s more here)" in line
    text = table_text(rows)         # the line says it once; the rows do not repeat it
    assert "stopped" not in text and "1 x 3" in text
    two = [point_row(procs=1, launches=2, stopped="budget", wall_s=4.0),
           point_row(procs=2, launches=3, stopped="budget", wall_s=3.0)]
    assert live.budget_line(two).startswith("2-3 launch(es) per point")
    # nothing to say: the planned launches ran, or the budget stopped points that have an
    # interval already, or the point failed
    assert live.budget_line([point_row(), point_row(procs=1)]) == ""
    assert live.budget_line([point_row(launches=6, stopped="budget")]) == ""
    assert live.budget_line([point_row(launches=1, stopped="budget", status="failed")]) == ""


def test_an_old_sweeps_rows_show_one_launch_and_no_interval():
    old = {k: v for k, v in point_row().items()
           if k not in ("launches", "time_lo_s", "time_hi_s", "speedup_lo", "speedup_hi",
                        "efficiency_lo", "efficiency_hi", "ci_note", "flags", "stopped")}
    text = table_text([old, point_row(procs=8, status="failed", time_s=nan, speedup=nan,
                                      efficiency=nan, launches=0, reason="boom (log: x)")])
    assert "0.1976 (too few samples)" in text and "1 x 3" in text
    assert "failed: boom" in text and "(log:" not in text


def test_names_and_reasons_reach_the_terminal_escaped():
    text = table_text([point_row(status="failed", time_s=nan, reason="x\x1b[2J\ny",
                                 output_shape="a\x1bb")], title="w\x1b]0;t\x07")
    assert "\x1b" not in text and "\x07" not in text
    assert "x\\x1b[2J\\ny" in text and "w\\x1b]0;t\\x07" in text
    out = io.StringIO()
    progress = live.LiveProgress(Console(file=out, width=200))
    progress.task = progress.progress.add_task("x", total=2)
    from convbench.engine.schedule import Slot
    progress.launch_finished(Slot(2, 0, 0, 0), row(status="failed", reason="z\x1b[31m"), row())
    progress.launch_finished(Slot(2, 4, 4, 9), point_row(wall_s=nan),
                             point_row(flags="cv 14%\x1b[1m", stopped="budget", wall_s=nan))
    text = out.getvalue()
    assert "\x1b" not in text and "z\\x1b[31m" in text
    assert "P=2 launch 4 (round 4): 0.1976 s" in text and "P=2: 0.1976 s [0.1950-0.2010], " \
        "speedup 1.90 [1.85-1.96], 5 launch(es); cv 14%\\x1b[1m" in text
