import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from convbench.engine import launcher
from convbench.core.errors import UsageError


def test_hostfile_syntaxes(tmp_path):
    f = tmp_path / "hosts"
    f.write_text("# comment\nnode1:4\nnode2 slots=2 max_slots=8\nnode3\n\nnode1:2  # more\n")
    assert launcher.hostfile_slots(f) == {"node1": 6, "node2": 2, "node3": 1}


@pytest.mark.parametrize("text,needle", [("", "names no host"), ("a:x\n", "slot count"),
                                          ("a slots=0\n", "slots must be")])
def test_bad_hostfiles(tmp_path, text, needle):
    f = tmp_path / "hosts"
    f.write_text(text)
    with pytest.raises(UsageError, match=needle):
        launcher.hostfile_slots(f)
    with pytest.raises(UsageError, match="does not exist"):
        launcher.hostfile_slots(tmp_path / "missing")


def fake_program(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_mpiexec_found_next_to_python_first(monkeypatch, tmp_path):
    """$CONVBENCH_MPIEXEC unset: the mpiexec beside the running Python wins over PATH's; one
    beside it that cannot run is passed over; then PATH's mpiexec, then its mpirun."""
    beside = fake_program(tmp_path / "venv" / "bin" / "mpiexec")
    (tmp_path / "venv" / "bin" / "python").symlink_to(sys.executable)
    on_path = fake_program(tmp_path / "usr" / "bin" / "mpiexec")
    monkeypatch.delenv("CONVBENCH_MPIEXEC", raising=False)
    monkeypatch.setenv("PATH", str(on_path.parent))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "venv" / "bin" / "python"))
    assert launcher.find_mpiexec() == str(beside)
    beside.chmod(0o644)
    assert launcher.find_mpiexec() == str(on_path)
    on_path.rename(on_path.with_name("mpirun"))
    assert launcher.find_mpiexec() == str(on_path.with_name("mpirun"))


def test_explicit_mpiexec_and_env(monkeypatch, tmp_path):
    with pytest.raises(UsageError, match="--mpiexec names"):
        launcher.find_mpiexec(str(tmp_path / "no-such-mpiexec"))
    monkeypatch.setenv("CONVBENCH_MPIEXEC", str(tmp_path / "nope"))
    with pytest.raises(UsageError, match="CONVBENCH_MPIEXEC"):
        launcher.find_mpiexec()


def test_no_mpiexec_says_how_to_get_one(monkeypatch, tmp_path):
    monkeypatch.delenv("CONVBENCH_MPIEXEC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(UsageError, match="pip install mpich"):
        launcher.find_mpiexec()


@pytest.mark.mpi
def test_vendor_detection_of_the_real_mpiexec(mpi):
    assert mpi.vendor in ("MPICH", "Open MPI", "Intel MPI")
    assert mpi.version


def test_commands_per_vendor():
    prog = ["python", "-m", "convbench.rank.worker", "s", "o"]
    m = launcher.MpichLauncher("/x/mpiexec")
    assert m.command(4, prog, oversubscribe=True, hostfile="h", extra=("-bind-to", "core")) == \
        ["/x/mpiexec", "-n", "4", "-f", "h", "-bind-to", "core", *prog]
    o = launcher.OpenMpiLauncher("/y/mpiexec")
    assert o.command(4, prog, oversubscribe=True) == ["/y/mpiexec", "-n", "4", "--oversubscribe", *prog]
    assert "--oversubscribe" not in o.command(2, prog)
    assert (o.env().get("OMPI_ALLOW_RUN_AS_ROOT") == "1") == (os.geteuid() == 0)
    assert m.env() == {}


def test_execute_kills_the_whole_group_on_timeout(tmp_path):
    # a child that spawns a grandchild; both must be gone after the timeout
    pidfile = tmp_path / "pid"
    code = (f"import subprocess,sys,time; p=subprocess.Popen([sys.executable,'-c','import time; time.sleep(60)']);"
            f"open({str(pidfile)!r},'w').write(str(p.pid)); time.sleep(60)")
    out = launcher.execute([sys.executable, "-c", code], env={}, log_path=tmp_path / "log", timeout=2)
    assert out.timed_out and not out.ok and "timed out" in out.reason()
    pid, deadline = int(pidfile.read_text()), time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:    # SIGKILL is delivered, not instant
        time.sleep(0.05)
    assert not alive(pid)


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped by init does not count)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in f)
    except FileNotFoundError:
        return False


def test_execute_reports_exit_status_and_log_tail(tmp_path):
    out = launcher.execute([sys.executable, "-c", "import sys; print('boom here'); sys.exit(3)"],
                           env={}, log_path=tmp_path / "log")
    assert out.returncode == 3 and "status 3" in out.reason()
    assert out.log_tail[-1] == "boom here"


@pytest.mark.parametrize("vendor,text,needle", [
    ("MPICH", "node1 slots=2\n", "MPICH reads host or host:N and nothing after it"),
    ("Intel MPI", "node1:2 user=x\n", "Intel MPI reads host or host:N"),
    ("Open MPI", "node1:2\n", "Open MPI does not read host:N"),
    ("Open MPI", "node1 cpus=2\n", "a token of this line is not"),
    (None, "-oProxyCommand=touch:1\n", "never a leading '-'"),
    (None, "node;rm:1\n", "not a host name or address"),
])
def test_a_hostfile_is_read_in_the_syntax_of_its_vendor(tmp_path, vendor, text, needle):
    f = tmp_path / "hosts"
    f.write_text(text)
    with pytest.raises(UsageError) as e:
        launcher.hostfile_slots(f, vendor=vendor)
    assert needle in str(e.value) and "line 1" in str(e.value)
    assert text.strip() not in str(e.value)            # the line is named, not echoed


def test_each_vendor_reads_its_own_syntax(tmp_path):
    f = tmp_path / "hosts"
    f.write_text("node1:4\nnode2\n127.0.0.3:2\n::1\n")
    assert launcher.hostfile_slots(f, vendor="MPICH") == {"node1": 4, "node2": 1, "127.0.0.3": 2, "::1": 1}
    f.write_text("node1 slots=4 max_slots=8\nnode2\n")
    assert launcher.hostfile_slots(f, vendor="Open MPI") == {"node1": 4, "node2": 1}


def test_paths_too_long_are_refused_before_anything_is_made(tmp_path):
    from convbench.engine import sweep
    deep = tmp_path / "/".join(["d" * 200] * 20)          # about 4 KB: no room for a sweep
    with pytest.raises(UsageError, match="is too long"):
        sweep.check_room(deep, "tiny")
    with pytest.raises(UsageError, match="workload's name is 250 bytes long"):
        sweep.check_room(tmp_path, "n" * 250)
    assert not deep.exists() and list(tmp_path.iterdir()) == []
    sweep.check_room(tmp_path, "tiny")


def test_open_mpi_ppn_beyond_the_hosts_is_refused_before_a_launch(tmp_path):
    # Open MPI's ppr:N:node never places more than N ranks a host (MPICH's -ppn cycles)
    from convbench.engine import sweep
    from convbench.workload.spec import preset
    hosts = tmp_path / "hosts"
    hosts.write_text("node1 slots=2\nnode2 slots=2\n")
    plan = sweep.SweepPlan.of("strong", preset("tiny"), (1, 2, 4), hostfile=str(hosts), ppn=1)
    with pytest.raises(UsageError, match="places at most 2 ranks with Open MPI"):
        sweep.check_launch(plan, launcher.OpenMpiLauncher("/y/mpiexec"))
    sweep.check_launch(sweep.SweepPlan.of("strong", preset("tiny"), (1, 2), hostfile=str(hosts), ppn=1),
                       launcher.OpenMpiLauncher("/y/mpiexec"))
    (tmp_path / "mh").write_text("node1:2\nnode2:2\n")
    sweep.check_launch(sweep.SweepPlan.of("strong", preset("tiny"), (1, 2, 4), hostfile=str(tmp_path / "mh"),
                                          ppn=1), launcher.MpichLauncher("/x/mpiexec"))


def test_the_wait_sees_the_exit_and_its_status_and_gives_up_at_the_timeout():
    """launcher._wait polls a pidfd (Linux) so an exit is seen when it happens; without one
    it falls back to Popen.wait. Either way: the exit status, or None at the timeout."""
    from convbench.engine import reaper
    if sys.platform.startswith("linux"):
        fd = launcher._pidfd(os.getpid())
        assert fd is not None
        os.close(fd)
    quick = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(7)"])
    assert launcher._wait(quick, reaper.Tree(quick.pid), timeout=30) == 7
    slow = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert launcher._wait(slow, reaper.Tree(slow.pid), timeout=0.3) is None
    finally:
        slow.kill()
        slow.wait()
