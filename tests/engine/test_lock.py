"""One writer per results directory: two resumes at once, a stale lock, a crafted lock file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import assert_clean_error, fault_env, run_cli, summary_by_procs, sweep_dirs
from convbench.core.errors import UsageError
from convbench.engine.lock import LOCK, SweepLock


def test_a_second_holder_is_refused_naming_the_first(tmp_path):
    with SweepLock(tmp_path):
        with pytest.raises(UsageError) as e:
            SweepLock(tmp_path).acquire()
        assert f"PID {os.getpid()}" in str(e.value) and "started 20" in str(e.value)
        assert e.value.exit_code == 2
    with SweepLock(tmp_path):        # released: free again, and nothing to take over
        pass


def test_a_stale_lock_is_taken_over_with_a_note(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / LOCK).write_text(json.dumps({"pid": int(gone), "started": "2026-01-01T00:00:00",
                                             "host": "h"}))
    notes = []
    with SweepLock(tmp_path, note=notes.append):
        assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()
    assert len(notes) == 1 and f"PID {gone} on h (started 2026-01-01T00:00:00)" in notes[0]


def test_a_lock_file_that_leads_elsewhere_is_refused(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    d = tmp_path / "sweep"
    d.mkdir()
    (d / LOCK).symlink_to(victim)
    with pytest.raises(UsageError, match="symbolic link"):
        SweepLock(d).acquire()
    (d / LOCK).unlink()
    os.link(victim, d / LOCK)
    with pytest.raises(UsageError, match="not a plain file of its own"):
        SweepLock(d).acquire()
    assert victim.read_text() == "keep me"


@pytest.mark.mpi
@pytest.mark.slow
def test_two_resumes_at_once_the_second_is_refused(tmp_path):
    p = run_cli("strong", "--launches", "1", "--order", "sequential", "--preset", "tiny", "--procs", "1", "--repeats", "1", "--warmup", "0",
                "--out", str(tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    [d] = sweep_dirs(tmp_path)
    m = json.loads((d / "manifest.json").read_text())
    m["sweep"]["procs"] = [1, 2]                  # one point left for the resumes
    (d / "manifest.json").write_text(json.dumps(m))
    kept = (d / "points" / "p0001" / "l000" / "outcome.json").read_text()

    first = subprocess.Popen([sys.executable, "-m", "convbench", "strong", "--resume", str(d)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, **fault_env(kind="sleep", seconds=4, rank=0, procs=2)})
    deadline = time.monotonic() + 60
    while not (d / "points" / "p0002" / "l000" / "spec.json").exists():   # the first is running P=2
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.1)
    second = run_cli("strong", "--resume", str(d))
    assert_clean_error(second, 2, f"being written by convbench PID {first.pid}", "started ")
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, out + err

    rows = summary_by_procs(d)
    assert sorted(rows) == [1, 2] and all(r["status"] == "ok" for r in rows.values())
    assert (d / "points" / "p0001" / "l000" / "outcome.json").read_text() == kept
    sessions = json.loads((d / "manifest.json").read_text())["sessions"]
    assert [s["points_run"] for s in sessions] == [[1], [2]]        # the second left none
    assert (d / LOCK).read_text() == ""                               # released
