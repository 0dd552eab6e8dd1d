"""Nothing outlives a sweep: a timeout or a signal kills everything a point started, the ssh
MPICH starts for a host that does not answer and processes that left the group included.

The silent host is 127.0.0.2, a loopback address: either nothing listens there (ssh is refused)
or, where the tests may bind port 22, a socket of the test's own that accepts and never answers
(ssh waits for a banner that never comes). No test sends traffic to any other address."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import fault_env, summary_by_procs, sweep_dirs
from convbench.engine import launcher

SILENT = "127.0.0.2"


def processes(*needles: str) -> dict[int, str]:
    """pid -> command line of the running processes (not zombies) whose command line holds any
    of the needles (this test's own directories, the silent host)."""
    out = {}
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != b"Z" and pid != os.getpid() and any(n in cmd for n in needles):
            out[pid] = cmd
    return out


@pytest.fixture
def silent_host():
    """A socket on 127.0.0.2:22 that accepts and never answers (None where port 22 cannot be
    bound: then nothing listens there and ssh is refused)."""
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((SILENT, 22))
    except OSError:
        s.close()
        yield None
        return
    s.listen(16)
    s.settimeout(0.2)
    held, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                held.append(s.accept()[0])
            except OSError:
                pass
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield s
    stop.set()
    t.join(2)
    for c in held:
        c.close()
    s.close()


def cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "convbench", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                            env={**os.environ, "COLUMNS": "200", **(env or {})})


def wait_for(needles: tuple[str, ...], what: str, seconds: float = 60) -> dict[int, str]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = {p: c for p, c in processes(*needles).items() if what in c}
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no process {what!r} appeared")


@pytest.mark.mpi
@pytest.mark.slow
def test_a_timeout_over_a_silent_host_leaves_no_process(tmp_path, silent_host, mpi):
    hosts = tmp_path / "hosts"
    hosts.write_text(f"{SILENT}:1\n" if mpi.vendor != "Open MPI" else f"{SILENT} slots=1\n")
    marks = (str(tmp_path), SILENT)
    before = processes(*marks)
    p = cli("run", "--launches", "1", "--order", "sequential", "-n", "2", "--preset", "tiny", "--repeats", "1", "--warmup", "0",
            "--hostfile", str(hosts), "--timeout", "5", "--out", str(tmp_path / "out"))
    if silent_host is not None:     # ssh waits for the host's banner in a session of its own
        during = wait_for(marks, "ssh")
        assert any(SILENT in c for c in during.values())
    out, err = p.communicate(timeout=90)
    assert p.returncode == 1 and "Traceback" not in out + err, out + err
    [d] = sweep_dirs(tmp_path / "out")
    reason = summary_by_procs(d)[2]["reason"]
    assert ("timed out" in reason) if silent_host is not None else SILENT in reason, reason
    assert before == {} and processes(*marks) == {}, "a process of the point outlived it"


@pytest.mark.mpi
@pytest.mark.slow
def test_sighup_over_a_silent_host_leaves_no_process(tmp_path, silent_host):
    if silent_host is None:
        pytest.skip("port 22 of 127.0.0.2 cannot be bound here: ssh would not wait")
    hosts = tmp_path / "hosts"
    hosts.write_text(f"{SILENT}:1\n")
    marks = (str(tmp_path), SILENT)
    p = cli("strong", "--launches", "1", "--order", "sequential", "--preset", "tiny", "--procs", "2", "--repeats", "1", "--hostfile",
            str(hosts), "--timeout", "120", "--out", str(tmp_path / "out"))
    during = wait_for(marks, "ssh")
    assert during
    p.send_signal(signal.SIGHUP)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 128 + signal.SIGHUP, out + err
    assert "interrupted by SIGHUP" in err and "Traceback" not in out + err
    assert processes(*marks) == {}, "a process of the point outlived the sweep"
    [d] = sweep_dirs(tmp_path / "out")
    m = json.loads((d / "manifest.json").read_text())
    assert m["interrupted"] is True and m["sessions"][-1]["signal"] == "SIGHUP"


@pytest.mark.mpi
@pytest.mark.slow
def test_a_stopped_rank_is_killed_at_the_timeout(tmp_path):
    """SIGSTOP on a rank of P=2: a stopped process ignores SIGTERM; the timeout still ends it."""
    marks = (str(tmp_path),)
    p = cli("strong", "--launches", "1", "--order", "sequential", "--preset", "tiny", "--procs", "1,2", "--repeats", "1", "--timeout", "8",
            "--out", str(tmp_path / "out"),
            env=fault_env(kind="sleep", seconds=4, rank=0, procs=2))
    ranks = wait_for(marks, "p0002/l000/spec.json")
    time.sleep(1.0)
    ranks = {pid: c for pid, c in processes(*marks).items()
             if "convbench.rank.worker" in c and "mpiexec" not in c}
    assert ranks
    os.kill(max(ranks), signal.SIGSTOP)
    out, err = p.communicate(timeout=90)
    assert p.returncode == 1 and "Traceback" not in out + err, out + err
    [d] = sweep_dirs(tmp_path / "out")
    rows = summary_by_procs(d)
    assert rows[1]["status"] == "ok" and "timed out" in rows[2]["reason"], rows
    assert processes(*marks) == {}, "a process of the point outlived it"


ESCAPE = """
import subprocess, sys, time
# a child that leaves the process group and the session, as ssh and daemons do
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", sys.argv[1]],
                 start_new_session=True)
if sys.argv[2] == "orphan":
    sys.exit(0)             # its parent is gone at once: only a subreaper still finds it
time.sleep(300)
"""


@pytest.mark.parametrize("how", ["timeout", "orphan"])
def test_the_kill_reaches_processes_that_left_the_group(tmp_path, how):
    token = f"convbench-test-escape-{tmp_path.name}"
    prog = (f"import sys; from pathlib import Path; from convbench.engine import launcher, reaper\n"
            f"print(reaper.become_subreaper())\n"
            f"o = launcher.execute([sys.executable, '-c', {ESCAPE!r}, {token!r}, {how!r}], env={{}},"
            f" log_path=Path({str(tmp_path / 'log')!r}), timeout=2)\n"
            f"print(o.timed_out, o.returncode)\n")
    p = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    subreaper, timed_out = p.stdout.split()[0], p.stdout.split()[1]
    assert timed_out == ("True" if how == "timeout" else "False")
    if how == "orphan" and subreaper != "True":
        pytest.skip("no child subreaper on this system")
    time.sleep(0.2)
    assert processes(token) == {}, "a process that left the group outlived the launch"


def test_launcher_version_output_is_bounded(tmp_path, monkeypatch):
    flood = tmp_path / "mpiexec"
    flood.write_text("#!/bin/sh\necho 'HYDRA build details:'\nexec yes 'Version: 9.9'\n")
    flood.chmod(0o755)
    t0 = time.monotonic()
    found = launcher.detect(str(flood))
    assert time.monotonic() - t0 < 10
    assert found.vendor == "MPICH" and found.version == "HYDRA 9.9"
    assert processes(str(flood)) == {}
    silent = tmp_path / "silent"
    silent.write_text("#!/bin/sh\nexec sleep 300\n")
    silent.chmod(0o755)
    monkeypatch.setattr(launcher, "VERSION_TIMEOUT_S", 1.0)
    from convbench.core.errors import UsageError
    with pytest.raises(UsageError, match="printed nothing in 1 s"):
        launcher.detect(str(silent))
    assert processes(str(silent)) == {}
