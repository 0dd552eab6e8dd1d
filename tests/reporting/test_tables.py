"""`convbench report`: the original report's table, whose numbers are summary.csv's."""
from __future__ import annotations

import csv
import io
import json
import math
import re

import pytest

from conftest import assert_clean_error, invoke, read_csv, run_cli
from handmade import build, launched, old_sweep, point, real_sweep
from convbench.results import store
from convbench.reporting import tables


def parse_markdown_table(text: str, which: int = 0) -> list[dict]:
    """The rows of the text's `which`-th Markdown table (0: the first)."""
    tables, lines = [], []
    for ln in text.splitlines() + [""]:
        if ln.startswith("|"):
            lines.append(ln)
        elif lines:
            tables.append(lines)
            lines = []
    lines = tables[which]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert set(lines[1].replace("|", "").replace(":", "").replace("-", "")) == set()
    return [dict(zip(header, (c.strip() for c in ln.strip().strip("|").split(" | "))))
            for ln in lines[2:]]


def num(cell: str) -> float:
    return math.nan if cell == "-" else float(cell.split()[0].rstrip("%"))


def figure(cell: str) -> tuple[str, str, str, str]:
    """A cell of a figure with its interval, '1.818 [1.700-1.900]' -> ('1.818', '1.700',
    '1.900', ''), or with the reason it has none, '0.5 (too few samples)' -> ('0.5', '', '',
    'too few samples')."""
    m = re.fullmatch(r"(\S+)(?: \[(\S+)-(\S+)\]| \((.+)\))?", cell)
    assert m, cell
    return m[1], m[2] or "", m[3] or "", m[4] or ""


def close(cell: str, value: str, rel: float = 0, abs_: float = 0) -> bool:
    if value == "":
        return cell == "-"
    return num(cell) == pytest.approx(float(value), rel=rel, abs=abs_)


@pytest.mark.mpi
def test_markdown_table_parses_back_to_summary_csv():
    d = real_sweep("scatter")
    p = run_cli("report", str(d))
    assert p.returncode == 0, p.stderr
    rows = parse_markdown_table(p.stdout)
    summary = read_csv(d / "summary.csv")
    assert list(rows[0])[:7] == ["# Processes", "Execution Time (max)", "Min-Max (s)",
                                 "Memory Usage per Rank (MB)", "Total Memory Usage (MB)",
                                 "Output Shape", "Speedup"]
    assert len(rows) == len(summary)
    for md, s in zip(rows, summary):
        assert md["# Processes"] == s["procs"]
        # documented precision: times 4 significant digits, MB 1 decimal, 3 decimals, % 1 decimal
        value, lo, hi, note = figure(md["Execution Time (max)"])
        assert close(value, s["time_s"], rel=5e-4)
        if s["time_lo_s"]:
            assert close(lo, s["time_lo_s"], rel=5e-4) and close(hi, s["time_hi_s"], rel=5e-4)
        else:
            assert note and not lo                            # never a made-up number
        lo, hi = md["Min-Max (s)"].strip("[]").split(", ")
        assert close(lo, s["time_min_s"], rel=5e-4) and close(hi, s["time_max_s"], rel=5e-4)
        assert close(md["Total Memory Usage (MB)"], s["mem_total_mb"], abs_=0.05)
        per_rank = [float(x) for x in md["Memory Usage per Rank (MB)"].split(", ")]
        assert per_rank == pytest.approx([float(x) for x in s["mem_per_rank_mb"].split()], abs=0.05)
        assert md["Output Shape"] == s["output_shape"]
        assert close(md["Speedup"], s["speedup"], abs_=5e-4)
        assert num(md["Efficiency"]) / 100 == pytest.approx(float(s["efficiency"]), abs=5e-4)
        assert close(md["Serial Fraction (Karp-Flatt)"], s["karp_flatt"], abs_=5e-4)
        assert close(md["Compute (s)"], s["compute_s"], rel=5e-4)
        assert close(md["Communication (s)"], s["comm_s"], rel=5e-4)
        assert md["Verified"] == ("yes" if s["verified"] == "true" else "no")
        assert md["Status"].startswith(s["status"])
    assert "tiny" in p.stdout.splitlines()[0] and "MPICH" in p.stdout


@pytest.mark.mpi
def test_csv_and_json_carry_summary_csv_values_exactly():
    d = real_sweep("scatter")
    sweep = store.load(d)
    summary = read_csv(d / "summary.csv")
    got = list(csv.DictReader(io.StringIO(tables.render_report(sweep, "csv"))))
    for g, s in zip(got, summary, strict=True):
        for k in ("procs", "time_s", "time_min_s", "time_max_s", "speedup", "efficiency",
                  "karp_flatt", "compute_s", "comm_s", "mem_total_mb", "verified", "status"):
            assert g[k] == s[k] or float(g[k]) == float(s[k]), k
    doc = json.loads(tables.render_report(sweep, "json"))
    assert doc["sweep"]["workload"] == "tiny" and doc["sweep"]["mode"] == "strong"
    assert doc["points"][0]["karp_flatt"] is None                 # NaN -> null
    assert doc["points"][1]["time_s"] == float(summary[1]["time_s"])


def test_failed_oversubscribed_and_weak_points(tmp_path):
    d = build(tmp_path / "w", [point(1, [1.0, 1.1, 0.9], mode="weak"),
                               point(2, [1.2, 1.3, 1.25], mode="weak", batch=32),
                               point(4, [2.0, 2.1, 2.2], mode="weak", over=True, batch=64),
                               point(8, [], mode="weak", status="failed", verified=False,
                                     reason="rank 3 exited | code 9", batch=128)], mode="weak")
    text = tables.render_report(store.load(d), "markdown")
    rows = {r["# Processes"]: r for r in parse_markdown_table(text)}
    assert rows["2"]["Efficiency"] == f"{100 * 1.0 / 1.25:.1f}% (too few samples)"
    assert rows["4"]["Status"] == "ok, oversubscribed" and "oversubscribed" in text.lower()
    assert rows["8"]["Execution Time (max)"] == "-" and rows["8"]["Verified"] == "no"
    assert rows["8"]["Status"] == "failed: rank 3 exited \\| code 9"   # a pipe cannot break the row
    assert "scaled speedup" in text
    assert rows["1"]["Serial Fraction (Karp-Flatt)"] == "-"


def test_single_point_run_sweep(tmp_path):
    d = build(tmp_path / "r", [point(2, [0.5])], mode="run")
    text = tables.render_report(store.load(d), "markdown")
    (row,) = parse_markdown_table(text)
    assert row["Speedup"] == "-" and row["Execution Time (max)"] == "0.5 (too few samples)"
    assert text.startswith("### one point: tiny")


def test_many_ranks_are_summarised_in_the_memory_column(tmp_path):
    d = build(tmp_path / "m", [point(1, [4.0]), point(12, [0.5])])
    rows = parse_markdown_table(tables.render_report(store.load(d)))
    assert rows[1]["Memory Usage per Rank (MB)"] == "rank 0: 70.0; ranks 1-11: 60.0-60.0"


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def broken_dirs(tmp_path):
    good = build(tmp_path / "good", [point(1, [1.0]), point(2, [0.6])])
    summary = (good / "summary.csv").read_text()
    ranks = (good / "ranks.csv").read_text()
    cases = {}
    cases["empty"] = (tmp_path / "empty", "not a convbench results directory")
    cases["empty"][0].mkdir()
    partial = tmp_path / "partial"
    write(partial / "manifest.json", (good / "manifest.json").read_text())
    cases["partial"] = (partial, "measured no point yet")
    foreign = tmp_path / "foreign"
    write(foreign / "manifest.json", "{}")
    write(foreign / "summary.csv", "a,b\n1,2\n")
    write(foreign / "ranks.csv", "a,b\n1,2\n")
    cases["foreign"] = (foreign, "not a convbench file")
    trunc = tmp_path / "truncated"
    write(trunc / "manifest.json", (good / "manifest.json").read_text())
    write(trunc / "summary.csv", summary[: len(summary) - 40])
    write(trunc / "ranks.csv", ranks)
    cases["truncated"] = (trunc, "truncated or corrupt")
    garbled = tmp_path / "garbled"
    write(garbled / "manifest.json", (good / "manifest.json").read_text())
    write(garbled / "summary.csv", summary)
    lines = ranks.splitlines(keepends=True)
    write(garbled / "ranks.csv", "".join([lines[0], "x" + lines[1][1:], *lines[2:]]))
    cases["garbled procs"] = (garbled, "not all integers")
    header_only = tmp_path / "header-only"
    write(header_only / "manifest.json", (good / "manifest.json").read_text())
    write(header_only / "summary.csv", summary.splitlines()[0] + "\n")
    write(header_only / "ranks.csv", ranks.splitlines()[0] + "\n")
    cases["header only"] = (header_only, "no rows")
    bad_manifest = tmp_path / "bad-manifest"
    write(bad_manifest / "manifest.json", '{"workload": ')
    cases["corrupt manifest"] = (bad_manifest, "unreadable or corrupt")
    binary = tmp_path / "binary"
    write(binary / "manifest.json", (good / "manifest.json").read_text())
    (binary / "summary.csv").write_bytes(b"\xff\xfe\x00garbage\x00")
    write(binary / "ranks.csv", ranks)
    cases["binary csv"] = (binary, "corrupt")
    return cases


def test_broken_directories_raise_one_line_usage_errors(tmp_path):
    from convbench.core.errors import UsageError
    for name, (d, needle) in broken_dirs(tmp_path).items():
        with pytest.raises(UsageError) as e:
            tables.render_report(store.load(d))
        assert needle in str(e.value) and "\n" not in str(e.value), name


def test_cli_errors_are_one_line_exit_2(tmp_path):
    cases = broken_dirs(tmp_path)
    assert_clean_error(invoke("report", str(cases["truncated"][0]), "--format", "csv"), 2, "truncated")
    # a directory of sweeps: the readable ones reported, the others named in a warning
    proc = invoke("report", str(tmp_path))
    assert proc.returncode == 0 and "Traceback" not in proc.stdout + proc.stderr
    assert proc.stdout.count("### ") == 1 and "skipped truncated" in proc.stderr
    (tmp_path / "no-sweeps").mkdir()
    assert_clean_error(invoke("report", str(tmp_path / "no-sweeps")), 2,
                       "neither a convbench results directory", "nor a directory of sweeps")
    from convbench.core.errors import UsageError
    with pytest.raises(UsageError, match="--format must be one of markdown, csv, json"):
        tables.render_report(store.load(tmp_path / "good"), "xml")


def test_report_and_model_read_every_sweep_of_a_directory_oldest_first(tmp_path):
    """Like plot: a directory of sweeps (names begin with the start time) or, with no
    argument, results/ in the current directory."""
    parent = tmp_path / "results"
    build(parent / "20260101-000000-strong-tiny", [point(1, [1.0]), point(2, [0.6])])
    build(parent / "20260102-000000-strong-tiny", [point(1, [2.0]), point(2, [1.0])])
    (parent / "not-a-sweep").mkdir()
    for args in (("report", str(parent)), ("report",)):
        proc = invoke(*args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        first, second = proc.stdout.split("### ")[1:]
        assert parse_markdown_table(first)[0]["Execution Time (max)"] == "1 (too few samples)"
        assert parse_markdown_table(second)[0]["Execution Time (max)"] == "2 (too few samples)"
    rows = list(csv.DictReader(io.StringIO(invoke("report", str(parent), "-f", "csv").stdout)))
    assert [(r["sweep"][:8], r["procs"]) for r in rows] == [
        ("20260101", "1"), ("20260101", "2"), ("20260102", "1"), ("20260102", "2")]
    both = json.loads(invoke("report", str(parent), "-f", "json").stdout)
    assert [s["name"][:8] for s in both] == ["20260101", "20260102"] and both[1]["points"]
    model = invoke("model", cwd=tmp_path)
    assert model.returncode == 0 and model.stdout.count("### scaling model") == 2, model.stdout
    # no results/ here and no path: one line saying so
    assert_clean_error(invoke("report", cwd=parent), 2, "./results does not exist")
    assert_clean_error(invoke("model", cwd=parent), 2, "./results does not exist")


@pytest.mark.mpi
def test_the_stage_table_shows_where_each_points_wall_time_went(tmp_path):
    text = tables.render_report(store.load(real_sweep()))
    stages = parse_markdown_table(text, 1)
    assert [r["# Processes"] for r in stages] == ["1", "2"]
    for r in stages:
        parts = [float(r[k]) for k in tables.STAGES_HEADER[2:]]
        assert min(parts) >= 0 and sum(parts) <= float(r["Wall (s)"]) + 0.035   # 2 decimals
    # a sweep written before the stages were recorded has no such table
    old = build(tmp_path / "old", [point(1, [1.0])])
    assert "wall time went" not in tables.render_report(store.load(old))


# ---- intervals, notes, flags and stops (issue 13); old sweeps; names from outside -------------
def interval_sweep(tmp_path):
    """P = 1, 2 with 95% intervals (2 flagged, stopped at --max-launches), 4 with too few
    launches for one (stopped: budget), 8 failed."""
    return build(tmp_path / "ci", [
        launched(point(1, [4.0, 4.4, 3.8]), time_lo_s=3.9, time_hi_s=4.2, speedup_lo=1.0,
                 speedup_hi=1.0, efficiency_lo=1.0, efficiency_hi=1.0, stopped="launches"),
        launched(point(2, [2.2, 2.5, 2.1]), launches=8, time_lo_s=2.15, time_hi_s=2.3,
                 speedup_lo=1.7, speedup_hi=1.9, efficiency_lo=0.85, efficiency_hi=0.95, cv=0.14,
                 flags="cv 14%; first repeat slow", stopped="max-launches"),
        launched(point(4, [1.5, 1.9, 1.4]), launches=2, stopped="budget",
                 ci_note="too few samples: 2 launches, 3 needed"),
        point(8, [], status="failed", verified=False, reason="timed out")])


def test_the_report_shows_intervals_notes_flags_and_stops(tmp_path):
    text = tables.render_report(store.load(interval_sweep(tmp_path)))
    rows = {r["# Processes"]: r for r in parse_markdown_table(text)}
    assert list(rows["1"])[:5] == list(tables.REPORT_HEADER[:5])      # the original's columns
    assert rows["1"]["Execution Time (max)"] == "4 [3.9-4.2]"
    assert rows["1"]["Min-Max (s)"] == "[3.8, 4.4]"                   # the repeats' spread, kept
    assert rows["2"]["Execution Time (max)"] == "2.2 [2.15-2.3]"
    assert rows["2"]["Speedup"] == "1.818 [1.700-1.900]"
    assert rows["2"]["Efficiency"] == "90.9% [85.0%-95.0%]"
    assert rows["1"]["Launches x Repeats"] == "5 x 3" and rows["2"]["Launches x Repeats"] == "8 x 3"
    # no interval: the cell says why, never a made-up number
    assert rows["4"]["Execution Time (max)"] == "1.5 (too few samples)"
    assert rows["4"]["Speedup"] == "2.667 (too few samples)"
    assert "- P = 4: too few samples: 2 launches, 3 needed" in text.splitlines()
    # the flags and the stop reason in the status; the planned launches say nothing
    assert rows["1"]["Status"] == "ok"
    assert rows["2"]["Status"] == ("ok; cv 14%; first repeat slow; stopped: --max-launches "
                                   "reached before --target-ci")
    assert rows["4"]["Status"] == "ok; stopped: budget"
    assert rows["8"]["Execution Time (max)"] == "-" and rows["8"]["Launches x Repeats"] == "-"
    assert rows["8"]["Status"] == "failed: timed out"
    assert "95% confidence interval" in text and "Launches x Repeats:" in text


def test_csv_and_json_carry_the_interval_columns_exactly(tmp_path):
    sweep = store.load(interval_sweep(tmp_path))
    got = {r["procs"]: r for r in csv.DictReader(io.StringIO(tables.render_report(sweep, "csv")))}
    assert got["2"]["speedup_lo"] == "1.7" and got["2"]["efficiency_hi"] == "0.95"
    assert got["2"]["launches"] == "8" and got["2"]["cv"] == "0.14"
    assert got["2"]["flags"] == "cv 14%; first repeat slow" and got["2"]["stopped"] == "max-launches"
    assert got["4"]["time_lo_s"] == "" and got["4"]["ci_note"] == "too few samples: 2 launches, 3 needed"
    doc = {p["procs"]: p for p in json.loads(tables.render_report(sweep, "json"))["points"]}
    assert doc[2]["time_hi_s"] == 2.3 and doc[4]["speedup_lo"] is None and doc[4]["launches"] == 2


def test_an_old_sweep_renders_as_before_with_one_launch_and_no_interval(tmp_path):
    sweep = store.load(old_sweep(tmp_path / "old"))
    text = tables.render_report(sweep)
    rows = parse_markdown_table(text)
    assert [r["Execution Time (max)"] for r in rows] == ["1 (too few samples)", "0.6 (too few samples)"]
    assert rows[1]["Speedup"] == "1.667 (too few samples)" and rows[1]["Min-Max (s)"] == "[0.55, 0.62]"
    assert [r["Launches x Repeats"] for r in rows] == ["1 x 3", "1 x 3"]
    assert [r["Status"] for r in rows] == ["ok", "ok"]
    assert "- P = 1, 2: too few samples: 1 launch" in text.splitlines()
    assert "3 repeats" in text and "launches x" not in text.splitlines()[2]   # the caption as before
    got = list(csv.DictReader(io.StringIO(tables.render_report(sweep, "csv"))))
    assert [g["launches"] for g in got] == ["", ""] and got[1]["time_s"] == "0.6"
    assert json.loads(tables.render_report(sweep, "json"))["points"][0]["time_lo_s"] is None


EVIL_HOST = "node\n| 9 | injected |\x1b[2J"
EVIL_REASON = "rank 1: \x1b]0;owned\x07 died\r\n| x |"


def test_names_and_reasons_cannot_break_the_markdown_or_reach_the_terminal(tmp_path):
    d = build(tmp_path / "evil", [point(1, [1.0]), point(2, [], status="failed", verified=False,
                                                         reason=EVIL_REASON)],
              host=EVIL_HOST, workload="w\x1b[31m\nx", library="MPICH\x9b1m")
    text = tables.render_report(store.load(d))
    assert all(c.isprintable() or c == "\n" for c in text)
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text and "\x9b" not in text
    lines = text.splitlines()
    assert lines[0] == "### strong scaling: w\\x1b[31m\\nx (batch 16, 2->3 ch, 24x20, K 3x2, pad 1x1)"
    assert "node\\n| 9 | injected |\\x1b[2J" in lines[2] and "MPICH\\x9b1m" in lines[2]
    table = [ln for ln in lines if ln.startswith("|")]
    assert len(table) == 4                                  # header, rule, two points
    rows = parse_markdown_table(text)
    assert rows[1]["Status"] == "failed: rank 1: \\x1b]0;owned\\x07 died\\r\\n\\| x \\|"
    assert all(len(r) == len(tables.REPORT_HEADER) for r in rows)


def test_csv_keeps_such_names_quoted_and_json_escapes_them(tmp_path):
    parent = tmp_path / "results"
    for name in ("a", "b\nc"):
        build(parent / name, [point(1, [1.0]), point(2, [], status="failed", verified=False,
                                                     reason=EVIL_REASON)])
    sweep = store.load(parent / "a")
    got = list(csv.DictReader(io.StringIO(tables.render_report(sweep, "csv"))))
    assert got[1]["reason"] == EVIL_REASON and len(got) == 2          # the value, kept
    assert json.loads(tables.render_report(sweep, "json"))["points"][1]["reason"] == EVIL_REASON
    many = tables.render_many([(s.path.name, tables.render_report(s, "csv"))
                               for s in map(store.load, (parent / "a", parent / "b\nc"))], "csv")
    rows = list(csv.DictReader(io.StringIO(many)))                     # several sweeps: one table
    assert [(r["sweep"], r["procs"]) for r in rows] == [("a", "1"), ("a", "2"), ("b\nc", "1"),
                                                         ("b\nc", "2")]
    assert rows[3]["reason"] == EVIL_REASON
