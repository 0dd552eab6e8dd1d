"""A host lost while a point runs: the point fails naming it, in good time, and --resume heals.

One slot a host, so the 2-rank point has a rank on each. node2 is killed (its sshd, the node's PID 1, and so everything on it) while rank 1 of the
2-rank point sleeps there; the 4-rank point that follows cannot reach node2. Both fail with a
reason that names node2, long before --timeout; the 1-rank point, on node1, stays as written.
With node2 back, `--resume` runs the two failed points and keeps the first.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli, sweep_dirs
from multihost.helpers import manifest, rank_hosts, summary

pytestmark = [pytest.mark.multihost, pytest.mark.mpi]

TIMEOUT_S = 40


def worker_on(hosts, i: int) -> bool:
    """Is a convbench rank running on node i (in its PID namespace)?"""
    init = hosts.init_pid(i)
    if init is None:
        return False
    node_ns = os.readlink(f"/proc/{init}/ns/pid")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if (b"convbench.rank.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
                    and os.readlink(f"/proc/{pid}/ns/pid") == node_ns):
                return True
        except OSError:
            continue
    return False


def test_a_host_lost_during_a_point(hosts, mpi, tmp_path):
    hostfile = hosts.hostfile(tmp_path / "hosts", slots=1, vendor=mpi.vendor)
    fault = {"CONVBENCH_TEST_FAULTS": "1",
             "CONVBENCH_TEST_FAULT": json.dumps({"kind": "sleep", "seconds": 600, "rank": 1,
                                                 "procs": 2})}
    forward = (["--mpi-args", "-x CONVBENCH_TEST_FAULTS -x CONVBENCH_TEST_FAULT"]
               if mpi.vendor == "Open MPI" else [])      # Open MPI passes on only what -x names
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "convbench", "strong", "--launches", "1", "--order", "sequential", "--preset", "tiny", "--procs", "1,2,4",
            "--repeats", "1", "--warmup", "0", "--hostfile", str(hostfile),
            "--timeout", str(TIMEOUT_S), "--out", str(out), *forward]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, env={**os.environ, "COLUMNS": "200", **fault}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not worker_on(hosts, 2):
            assert proc.poll() is None and time.monotonic() < deadline, "rank 1 never ran on node2"
            time.sleep(0.1)
        time.sleep(0.5)
        killed_at = time.monotonic()
        hosts.kill_node(2)
        text, _ = proc.communicate(timeout=2 * TIMEOUT_S + 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if hosts.init_pid(2) is None:
            hosts.start_node(2)
    ended = time.monotonic()
    assert proc.returncode == 1, text
    assert ended - killed_at < TIMEOUT_S, f"{ended - killed_at:.0f} s after the host was lost"
    assert ended - t0 < 3 * TIMEOUT_S

    [d] = sweep_dirs(out)
    rows = summary(d)
    assert rows[1]["status"] == "ok" and rows[1]["verified"] == "true"
    for p in (2, 4):
        assert rows[p]["status"] == "failed", (p, rows[p]["status"], rows[p]["reason"], text)
        assert "node2" in rows[p]["reason"] and "timed out" not in rows[p]["reason"], rows[p]
    assert "host node2 was lost during the point" in rows[2]["reason"], rows[2]["reason"]
    assert "P=2 launch 0 (round 0): failed" in text and "node2" in text
    assert rank_hosts(d)[1] == {0: ("node1", 16)}
    kept = (d / "points" / "p0001" / "l000" / "outcome.json").read_text()

    # node2 is back: --resume runs what failed and keeps what was measured
    p = run_cli("strong", "--resume", str(d), "--hostfile", str(hostfile),
                env={"CONVBENCH_TEST_FAULTS": "0", "CONVBENCH_TEST_FAULT": "{}"})
    assert p.returncode == 0, p.stdout + p.stderr
    rows = summary(d)
    assert all(r["status"] == "ok" and r["verified"] == "true" for r in rows.values()), rows
    assert len({r["checksum"] for r in rows.values()}) == 1
    m = manifest(d)
    assert m["sessions"][-1]["points_kept"] == [1] and m["sessions"][-1]["points_run"] == [2, 4]
    assert (d / "points" / "p0001" / "l000" / "outcome.json").read_text() == kept
    assert m["hosts"]["node2"]["2"] == 1
