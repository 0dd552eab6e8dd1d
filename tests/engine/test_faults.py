"""Real faults in real processes: a rank killed, a rank hanging past --timeout, a rank that
exits non-zero, Ctrl-C on a running sweep, and --resume after it. Each checks the exit status,
the message, that no traceback is printed, that earlier points are intact, and that no rank is
left running."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import assert_clean_error, fault_env, run_cli, summary_by_procs, sweep_dirs

pytestmark = pytest.mark.mpi


def ranks_left(d: Path) -> list[str]:
    """Processes whose command line names this sweep directory (ranks, mpiexec)."""
    p = subprocess.run(["pgrep", "-af", str(d)], capture_output=True, text=True)
    return [ln for ln in p.stdout.splitlines() if "pgrep" not in ln]


@pytest.mark.parametrize("fault,needle", [
    ({"kind": "kill", "rank": 1, "procs": 2}, "signal 9"),
    ({"kind": "exit", "code": 3, "rank": 1, "procs": 2}, "exit"),
    ({"kind": "kill", "rank": 0, "procs": 2, "where": "setup"}, "signal 9"),
])
def test_a_dying_rank_costs_only_its_point(tmp_path, fault, needle):
    p = run_cli("strong", "--launches", "1", "--order", "sequential", "--launches", "1", "--order", "sequential", "--preset", "tiny", "--procs", "1,2,4", "--repeats", "1",
                "--out", str(tmp_path), env=fault_env(**fault))
    assert_clean_error(p, 1, "1 of 3 point(s) failed")
    [d] = sweep_dirs(tmp_path)
    rows = summary_by_procs(d)
    assert rows[1]["status"] == "ok" and rows[4]["status"] == "ok"
    assert rows[2]["status"] == "failed" and rows[2]["speedup"] == ""
    assert needle.lower() in rows[2]["reason"].lower(), rows[2]["reason"]
    assert (d / "points" / "p0002" / "l000" / "mpiexec.log").stat().st_size > 0
    assert not ranks_left(d)


@pytest.mark.slow
def test_a_hanging_rank_is_killed_at_the_timeout(tmp_path):
    t0 = time.monotonic()
    p = run_cli("strong", "--launches", "1", "--order", "sequential", "--launches", "1", "--order", "sequential", "--preset", "tiny", "--procs", "1,2,4", "--repeats", "1", "--timeout", "4",
                "--out", str(tmp_path), env=fault_env(kind="sleep", seconds=120, rank=1, procs=2))
    assert time.monotonic() - t0 < 60
    assert_clean_error(p, 1, "failed")
    [d] = sweep_dirs(tmp_path)
    rows = summary_by_procs(d)
    assert rows[2]["status"] == "failed" and "timed out after" in rows[2]["reason"]
    assert rows[1]["status"] == rows[4]["status"] == "ok"
    assert not ranks_left(d)


def test_fail_fast_stops_at_the_first_failure(tmp_path):
    p = run_cli("strong", "--launches", "1", "--order", "sequential", "--launches", "1", "--order", "sequential", "--preset", "tiny", "--procs", "1,2,4", "--repeats", "1", "--fail-fast",
                "--out", str(tmp_path), env=fault_env(kind="exit", rank=0, procs=2))
    assert_clean_error(p, 1, "1 of 2 point(s) failed")
    assert sorted(summary_by_procs(sweep_dirs(tmp_path)[0])) == [1, 2]


def start_and_wait_for_second_point(tmp_path):
    """A sweep whose P=2 point hangs; returns (process, sweep dir) once its ranks are running."""
    env = {**os.environ, "COLUMNS": "200", **fault_env(kind="sleep", seconds=120, rank=0, procs=2)}
    proc = subprocess.Popen([sys.executable, "-m", "convbench", "strong", "--launches", "1", "--order", "sequential", "--preset", "tiny",
                             "--procs", "1,2,4", "--repeats", "1", "--out", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        dirs = sweep_dirs(tmp_path) if tmp_path.exists() else []
        if dirs and (dirs[0] / "points" / "p0002" / "l000" / "spec.json").exists():
            time.sleep(1.5)                       # the P=2 ranks are now sleeping
            return proc, dirs[0]
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the sweep never reached its second point")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT])
def test_a_signal_stops_a_sweep_like_ctrl_c(tmp_path, sig):
    """SIGTERM (a scheduler), SIGHUP (a closed terminal or ssh session) and SIGQUIT: the
    running point's ranks killed, the finished points saved, the interruption and its signal
    in the manifest, exit status 128 + the signal's number."""
    proc, d = start_and_wait_for_second_point(tmp_path)
    assert ranks_left(d)                        # the P=2 ranks and their mpiexec run
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig, out + err
    assert "Traceback" not in out + err and f"interrupted by {sig.name}" in err
    assert list(summary_by_procs(d)) == [1] and not ranks_left(d)
    m = json.loads((d / "manifest.json").read_text())
    assert m["interrupted"] is True and m["sessions"][-1]["signal"] == sig.name


@pytest.mark.slow
def test_ctrl_c_keeps_finished_points_then_resume_completes(tmp_path):
    proc, d = start_and_wait_for_second_point(tmp_path)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err and "interrupted" in err and "--resume" in err
    rows = summary_by_procs(d)
    assert list(rows) == [1] and rows[1]["status"] == "ok"
    m = json.loads((d / "manifest.json").read_text())
    assert m["interrupted"] is True and m["points_done"] == [1]
    assert not ranks_left(d)

    # --resume: P=1 is kept, P=2 and P=4 are measured, the manifest has both sessions
    p = run_cli("strong", "--resume", str(d))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "kept from an earlier session" in p.stderr
    rows = summary_by_procs(d)
    assert sorted(rows) == [1, 2, 4] and all(r["status"] == "ok" for r in rows.values())
    m = json.loads((d / "manifest.json").read_text())
    assert [s["points_run"] for s in m["sessions"]] == [[1], [2, 4]]
    assert m["sessions"][1]["points_kept"] == [1] and m["interrupted"] is False
    assert len(sweep_dirs(tmp_path)) == 1
