"""The progress lines of a sweep: one line per point of where its wall time went."""
from __future__ import annotations

import io
import math

from rich.console import Console

from convbench.engine import live
from convbench.results import records


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


def test_each_finished_launch_prints_its_time_the_point_so_far_and_its_stage_line():
    from convbench.engine.schedule import Slot
    out = io.StringIO()
    progress = live.LiveProgress(Console(file=out, width=200))
    progress.task = progress.progress.add_task("x", total=2)
    point = row(launches=3, time_lo_s=0.45, time_hi_s=0.55, speedup_lo=1.4, speedup_hi=1.6)
    progress.launch_finished(Slot(2, 2, 2, 7), row(time_s=0.52), point)
    progress.launch_finished(Slot(2, 3, 3, 9), row(status="failed", reason="boom", wall_s=2.0),
                             row(status="failed"))
    text = out.getvalue()
    assert ("P=2 launch 2 (round 2): 0.5200 s; point 0.5000 [0.4500-0.5500] s, speedup "
            "1.50 [1.40-1.60], 3 launch(es)") in text
    assert "P=2 launch 3 (round 3): failed: boom" in text
    assert text.count("wall ") == 2 and "launch 0.40 + data 1.00" in text


def test_a_point_without_an_interval_says_so_instead_of_a_number():
    text = live.point_text(row(launches=2, ci_note="too few samples: 2 launches, 3 needed"))
    assert text.startswith("0.5000 s (no interval yet), speedup 1.50 (no interval yet)")
    assert live.point_text(row(flags="cv 14%")).endswith("; cv 14%")
