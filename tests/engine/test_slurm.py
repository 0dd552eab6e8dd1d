"""--launcher slurm: srun inside an allocation, one sbatch job per sweep, convbench collect.

The tests marked ``slurm`` run against a real single-node Slurm (slurmctld + slurmd + munge)
that the session fixture installs from the distribution's packages where it is missing and
starts in a temporary directory of its own (its own slurm.conf, ports and munge socket: an
existing Slurm or munge on the machine is not touched), and stops at the end of the session.
Where that cannot be done (not root, no apt-get, no package index, a daemon that refuses) they
are skipped with the reason. The other tests need no Slurm: they use fake Slurm commands.
"""
from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import assert_clean_error, invoke, summary_by_procs, sweep_dirs
from convbench.engine import slurm
from convbench.engine import sweep
from convbench.core.errors import UsageError
from convbench.workload.spec import preset

#: Slurm's commands the tests need, and where a root shell finds the daemons
COMMANDS = ("slurmctld", "slurmd", "munged", "sbatch", "srun", "salloc", "scontrol", "squeue",
            "scancel", "sinfo")
SBIN = os.pathsep.join(["/usr/sbin", "/sbin"])
#: how long a submitted tiny sweep may take from sbatch to the end of its job
JOB_WAIT_S = 120


def which(name: str) -> str | None:
    return shutil.which(name, path=os.environ.get("PATH", "") + os.pathsep + SBIN)


def clean_env(**extra: str) -> dict:
    """This environment without any Slurm job's variables (the tests choose where they run) and
    without make's (under `make test`, MAKELEVEL/MAKEFLAGS/MFLAGS in the environment made an srun
    step across the emulated nodes fail in MPI_Init: "mpi/pmi2: invalid client request")."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "SBATCH_", "SALLOC_", "SRUN_"))
           and k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    return {**env, "COLUMNS": "200", **extra}


def convbench(*args: str, env: dict, prefix: tuple[str, ...] = (), timeout: float = 180):
    return subprocess.run([*prefix, sys.executable, "-m", "convbench", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def manifest(d: Path) -> dict:
    return json.loads((d / "manifest.json").read_text())


# ---- a real single-node Slurm ----------------------------------------------------------------------
class Unavailable(Exception):
    """Why this machine cannot run a single-node Slurm for the tests."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _last(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


class SingleNodeSlurm:
    """slurmctld, slurmd and munged of this machine, in the foreground, as our children."""

    def __init__(self):
        self.root: Path | None = None       # its configuration, state, logs and munge socket
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.node = ""

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def env(self) -> dict:
        return clean_env(SLURM_CONF=str(self.conf))

    # -- start --------------------------------------------------------------------------------
    @staticmethod
    def install() -> None:
        """apt-get install the packages once; nothing to do where they are installed."""
        if all(which(c) for c in COMMANDS):
            return
        if not which("apt-get"):
            raise Unavailable("Slurm is not installed and there is no apt-get to install it")
        cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "slurm-wlm", "munge"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run = lambda argv: subprocess.run(argv, capture_output=True, text=True, env=env,  # noqa: E731
                                          timeout=900, stdin=subprocess.DEVNULL)
        p = run(cmd)
        if p.returncode != 0:         # a fresh machine may have no package index yet
            run(["apt-get", "update", "-q"])
            p = run(cmd)
        if p.returncode != 0:
            raise Unavailable(f"apt-get install slurm-wlm munge failed: {_last(p.stderr or p.stdout)}")
        missing = [c for c in COMMANDS if not which(c)]
        if missing:
            raise Unavailable(f"the Slurm packages brought no {', '.join(missing)}")

    def _daemon(self, name: str, argv: list[str], **kw) -> None:
        log = open(self.root / f"{name}.out", "wb")
        self.procs.append((name, subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                                  stderr=subprocess.STDOUT, start_new_session=True,
                                                  env=self.env, **kw)))
        log.close()

    def _munge(self) -> Path:
        try:
            munge = pwd.getpwnam("munge")
        except KeyError:
            raise Unavailable("there is no 'munge' user to run munged") from None
        d = self.root / "munge"
        d.mkdir(mode=0o755)
        key = d / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        os.chown(d, munge.pw_uid, munge.pw_gid)
        os.chown(key, munge.pw_uid, munge.pw_gid)
        sock = d / "munge.socket"
        self._daemon("munged", [which("munged"), "-F", f"--socket={sock}", f"--key-file={key}",
                                f"--log-file={d / 'munged.log'}", f"--pid-file={d / 'munged.pid'}",
                                f"--seed-file={d / 'munged.seed'}"],
                     user=munge.pw_uid, group=munge.pw_gid, extra_groups=[])
        self._wait(lambda: sock.exists(), 10, "munged did not create its socket")
        p = subprocess.run(f"{which('munge')} -n -S {sock} | {which('unmunge')} -S {sock}",
                           shell=True, capture_output=True, text=True, timeout=10)
        if "Success" not in p.stdout:
            raise Unavailable(f"munge does not work: {_last(p.stderr or p.stdout)}")
        return sock

    def _node_line(self) -> str:
        """This machine as slurmd sees it ('NodeName=... CPUs=... RealMemory=...')."""
        p = subprocess.run([which("slurmd"), "-C"], capture_output=True, text=True, timeout=30)
        line = p.stdout.splitlines()[0] if p.returncode == 0 and p.stdout.strip() else ""
        if not line.startswith("NodeName="):
            raise Unavailable(f"slurmd -C failed: {_last(p.stderr)}")
        words = []
        for w in line.split():
            if w.startswith("RealMemory="):      # a little under what slurmd measures
                w = f"RealMemory={max(1, int(w.split('=')[1]) - 1024)}"
            words.append(w)
        self.node = words[0].split("=", 1)[1]
        return " ".join(words)

    def start(self) -> "SingleNodeSlurm":
        if hasattr(os, "geteuid") and os.geteuid() != 0:
            raise Unavailable("installing Slurm and starting slurmd need root")
        self.install()
        self.root = Path(tempfile.mkdtemp(prefix="convbench-slurm-"))
        self.root.chmod(0o755)      # munged (user munge) must reach its socket and key
        try:
            sock = self._munge()
            node = self._node_line()
            for d in ("state", "spool"):
                (self.root / d).mkdir()
            r = self.root
            self.conf.write_text("\n".join([
                "ClusterName=convbenchtest",
                f"SlurmctldHost={self.node}(127.0.0.1)",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                "SlurmUser=root", "SlurmdUser=root",
                "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={sock}",
                f"StateSaveLocation={r / 'state'}", f"SlurmdSpoolDir={r / 'spool'}",
                f"SlurmctldPidFile={r / 'slurmctld.pid'}", f"SlurmdPidFile={r / 'slurmd.pid'}",
                f"SlurmctldLogFile={r / 'slurmctld.log'}", f"SlurmdLogFile={r / 'slurmd.log'}",
                "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
                "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
                "JobCompType=jobcomp/none", "MpiDefault=pmi2",
                "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core", "ReturnToService=2",
                f"{node} NodeAddr=127.0.0.1 State=UNKNOWN",
                f"PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
                "",
            ]))
            self._daemon("slurmctld", [which("slurmctld"), "-D", "-i", "-f", str(self.conf)])
            self._daemon("slurmd", [which("slurmd"), "-D", "-f", str(self.conf)])
            self._wait(self._idle, 60, "the node did not become idle")
        except BaseException:
            self.stop()
            raise
        return self

    def _idle(self) -> bool:
        p = subprocess.run([which("sinfo"), "-h", "-n", self.node, "-o", "%T"], env=self.env,
                           capture_output=True, text=True, timeout=10)
        return p.stdout.strip() == "idle"

    def _wait(self, ready, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not ready():
            dead = [(n, p.returncode) for n, p in self.procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                logs = " | ".join(_last((self.root / f).read_text(errors="replace"))
                                  for f in ("slurmctld.log", "slurmd.log", "slurmctld.out",
                                            "slurmd.out", "munged.out")
                                  if (self.root / f).is_file())
                died = f"; exited: {dead}" if dead else ""
                raise Unavailable(f"{what} within {seconds:.0f} s{died} ({logs or 'no log'})")
            time.sleep(0.25)

    # -- stop ---------------------------------------------------------------------------------
    def stop(self) -> None:
        """Cancel every job, then end the daemons we started; nothing stays running."""
        if any(n == "slurmctld" and p.poll() is None for n, p in self.procs):
            subprocess.run([which("scancel"), "--full", "-u", "root"], env=self.env,
                           capture_output=True, timeout=30)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                q = subprocess.run([which("squeue"), "-h", "-o", "%i"], env=self.env,
                                   capture_output=True, text=True, timeout=10)
                if q.returncode != 0 or not q.stdout.strip():
                    break
                time.sleep(0.5)
        for name, proc in reversed(self.procs):         # slurmd, slurmctld, munged
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=15)
        self.procs.clear()
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster():
    t0 = time.monotonic()
    try:
        c = SingleNodeSlurm().start()
    except Unavailable as e:
        pytest.skip(f"no single-node Slurm here: {e}")
    except (OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"no single-node Slurm here: {e.__class__.__name__}: {e}")
    print(f"single-node Slurm ready in {time.monotonic() - t0:.1f} s ({c.root})")
    yield c
    c.stop()


# ---- real Slurm -------------------------------------------------------------------------------
@pytest.mark.slurm
@pytest.mark.mpi
@pytest.mark.slow
def test_a_sweep_inside_an_allocation_runs_each_point_with_srun(cluster, tmp_path):
    p = convbench("strong", "--launches", "1", "--order", "sequential", "--launcher", "slurm", "--preset", "tiny", "--procs", "1,2,4",
                  "--repeats", "1", "--warmup", "0", "--out", str(tmp_path), env=cluster.env,
                  prefix=(which("salloc"), "-n", "2", "--time=5"))
    assert p.returncode == 0, p.stdout + p.stderr
    [d] = sweep_dirs(tmp_path)
    rows = summary_by_procs(d)
    assert sorted(rows) == [1, 2, 4]
    assert all(r["status"] == "ok" and r["verified"] == "true" for r in rows.values()), rows
    assert [rows[q]["oversubscribed"] for q in (1, 2, 4)] == ["false", "false", "true"]
    m = manifest(d)
    assert m["sweep"]["launcher"] == "slurm"
    assert m["mpi"]["vendor"] == "Slurm srun" and m["mpi"]["slots"] == 2
    assert sum(m["hosts"][cluster.node].values()) == 1 + 2 + 4
    log = (d / "points" / "p0004" / "l000" / "mpiexec.log").read_text()
    assert "srun -n 4 --kill-on-bad-exit=1 --mpi=pmi2 --overcommit " in log.splitlines()[0]
    assert "slurm" not in m      # nothing was submitted


def collect_when_done(d: Path, env: dict) -> subprocess.CompletedProcess:
    """`convbench collect DIR` until the job has ended (exit status other than 75)."""
    deadline = time.monotonic() + JOB_WAIT_S
    while True:
        p = convbench("collect", str(d), env=env, timeout=60)
        if p.returncode != 75 or time.monotonic() > deadline:
            return p
        assert "PENDING" in p.stdout or "RUNNING" in p.stdout or "COMPLETING" in p.stdout, p.stdout
        time.sleep(1)


@pytest.mark.slurm
@pytest.mark.mpi
@pytest.mark.slow
def test_a_submitted_sweep_runs_in_its_job_and_is_collected(cluster, tmp_path):
    p = convbench("strong", "--launches", "1", "--order", "sequential", "--launcher", "slurm", "--preset", "tiny", "--procs", "1,2",
                  "--repeats", "1", "--warmup", "0", "--out", str(tmp_path), env=cluster.env)
    assert p.returncode == 0, p.stdout + p.stderr
    [d] = sweep_dirs(tmp_path)
    m = manifest(d)
    job = m["slurm"]["job_id"]
    assert f"submitted Slurm job {job}" in p.stdout and f"convbench collect {d}" in p.stdout
    assert m["sweep"]["launcher"] == "slurm" and m["slurm"]["jobs"] == [job]
    script = (d / "job.sbatch").read_text()
    assert "#SBATCH --ntasks=2" in script
    assert f"-m convbench strong --launcher slurm --resume {d}" in script

    c = collect_when_done(d, cluster.env)
    assert c.returncode == 0, c.stdout + c.stderr
    assert f"job {job}: COMPLETED" in c.stdout and "verified" in c.stdout
    rows = summary_by_procs(d)
    assert sorted(rows) == [1, 2] and all(r["status"] == "ok" for r in rows.values())
    m = manifest(d)
    assert m["slurm"]["state"] == "COMPLETED" and m["mpi"]["vendor"] == "Slurm srun"
    assert m["sessions"][-1]["points_run"] == [1, 2] and m["finished"]
    assert (d / f"slurm-{job}.out").is_file()


@pytest.mark.slurm
@pytest.mark.mpi
@pytest.mark.slow
def test_a_failed_job_is_reported_and_resume_submits_the_rest(cluster, tmp_path):
    fault = {"CONVBENCH_TEST_FAULTS": "1",
             "CONVBENCH_TEST_FAULT": json.dumps({"kind": "exit", "code": 3, "rank": 1, "procs": 2})}
    p = convbench("strong", "--launches", "1", "--order", "sequential", "--launcher", "slurm", "--preset", "tiny", "--procs", "1,2",
                  "--repeats", "1", "--warmup", "0", "--out", str(tmp_path),
                  env={**cluster.env, **fault})      # sbatch passes the environment on
    assert p.returncode == 0, p.stdout + p.stderr
    [d] = sweep_dirs(tmp_path)
    first = manifest(d)["slurm"]["job_id"]
    c = collect_when_done(d, cluster.env)
    assert_clean_error(c, 1, f"job {first} ended FAILED")
    assert summary_by_procs(d)[2]["status"] == "failed" and summary_by_procs(d)[1]["status"] == "ok"

    p = convbench("strong", "--launches", "1", "--order", "sequential", "--launcher", "slurm", "--resume", str(d), env=cluster.env)   # a new job runs P=2 only
    assert p.returncode == 0, p.stdout + p.stderr
    second = manifest(d)["slurm"]["job_id"]
    assert second != first and manifest(d)["slurm"]["jobs"] == [first, second]
    c = collect_when_done(d, cluster.env)
    assert c.returncode == 0, c.stdout + c.stderr
    assert all(r["status"] == "ok" for r in summary_by_procs(d).values())
    assert manifest(d)["sessions"][-1]["points_kept"] == [1]


# ---- no Slurm needed ----------------------------------------------------------------------------
def test_srun_command_line():
    srun = slurm.SrunLauncher("/opt/slurm/bin/srun")
    assert srun.command(2, ["python", "w.py"]) == [
        "/opt/slurm/bin/srun", "-n", "2", "--kill-on-bad-exit=1", "--mpi=pmi2", "python", "w.py"]
    assert srun.command(8, ["py"], oversubscribe=True, ppn=4, bind="core",
                        extra=("--exclusive",)) == [
        "/opt/slurm/bin/srun", "-n", "8", "--kill-on-bad-exit=1", "--mpi=pmi2", "--overcommit", "--ntasks-per-node", "4",
        "--cpu-bind=cores", "--exclusive", "py"]
    assert slurm.SrunLauncher("srun", mpi="").command(1, ["py"]) == [
        "srun", "-n", "1", "--kill-on-bad-exit=1", "py"]
    assert srun.vendor == "Slurm srun"


@pytest.mark.parametrize("env,slots", [
    ({"SLURM_NTASKS": "6", "SLURM_JOB_CPUS_PER_NODE": "8"}, 6),
    ({"SLURM_JOB_CPUS_PER_NODE": "4(x2),2"}, 10),
    ({"SLURM_JOB_CPUS_PER_NODE": "16"}, 16),
])
def test_slots_of_an_allocation(env, slots):
    assert slurm.allocation_slots(env) == slots


def test_the_job_script_is_readable_and_resumes_its_sweep(tmp_path):
    plan = sweep.SweepPlan.of(mode="weak", workload=preset("tiny"), procs=(1, 2, 4), timeout=60, launches=1, order="sequential",
                              launcher="slurm")
    text = slurm.job_script(plan, tmp_path, python="/venv/bin/python")
    lines = text.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert "#SBATCH --ntasks=4" in lines
    assert "#SBATCH --time=0:08:00" in lines         # 3 points x 60 s + 5 minutes
    assert f"#SBATCH --output={tmp_path}/slurm-%j.out" in lines
    assert lines[-1] == f"exec /venv/bin/python -m convbench weak --launcher slurm --resume {tmp_path}"
    # sbatch reads #SBATCH lines only before the first command
    first_command = next(i for i, ln in enumerate(lines) if ln and not ln.startswith("#"))
    assert max(i for i, ln in enumerate(lines) if ln.startswith("#SBATCH")) < first_command
    assert f"convbench collect {tmp_path}" in text
    if shutil.which("bash"):
        assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0
    with pytest.raises(UsageError, match="#SBATCH"):
        slurm.job_script(plan, tmp_path / "a b")


def test_the_launcher_is_recorded_and_restored():
    plan = sweep.SweepPlan.of(mode="strong", workload=preset("tiny"), procs=(1, 2), launcher="slurm", launches=1, order="sequential")
    m = {"sweep": plan.to_dict(), "workload": plan.workload.to_dict(), "mpi": {"mpiexec": None}}
    assert m["sweep"]["launcher"] == "slurm"
    assert sweep.SweepPlan.from_manifest(m, out="x") == plan.__class__(
        plan.mode, plan.measured, plan.placement, plan.policy, out="x")
    del m["sweep"]["launcher"]             # a sweep recorded before --launcher existed
    assert sweep.SweepPlan.from_manifest(m, out="x").placement.launcher == "mpiexec"


def test_bad_launcher_settings_are_refused(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("localhost:2\n")
    for kw, needle in (({"launcher": "pbs"}, "--launcher must be one of mpiexec, slurm"),
                       ({"launcher": "slurm", "hostfile": str(hosts)}, "--hostfile is for mpiexec")):
        plan = sweep.SweepPlan.of(mode="strong", workload=preset("tiny"), procs=(1,), launches=1, order="sequential", **kw)
        with pytest.raises(UsageError, match=needle):
            sweep.validate(plan)


def fake_slurm(bin_dir: Path, **scripts: str) -> dict:
    """Shell scripts named like Slurm's commands; an environment that finds them first."""
    bin_dir.mkdir(exist_ok=True)
    for name, body in scripts.items():
        f = bin_dir / name
        f.write_text(f"#!/bin/sh\n{body}\n")
        f.chmod(0o755)
    return clean_env(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")


def test_without_sbatch_nothing_is_created(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    out = tmp_path / "out"
    p = convbench("strong", "--launches", "1", "--order", "sequential", "--launcher", "slurm", "--preset", "tiny", "--procs", "1,2",
                  "--out", str(out), env=clean_env(PATH=str(empty)))
    assert_clean_error(p, 2, "sbatch not found: --launcher slurm needs Slurm's commands on PATH")
    assert not out.exists() or not any(out.iterdir())


def test_a_refused_submission_says_why_and_leaves_no_sweep(tmp_path):
    env = fake_slurm(
        tmp_path / "bin",
        sbatch='echo "sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified" >&2; exit 1',
        srun='echo "slurm 0.0.0"', scontrol="exit 0")
    out = tmp_path / "out"
    p = convbench("strong", "--launches", "1", "--order", "sequential", "--launcher", "slurm", "--preset", "tiny", "--procs", "1,2",
                  "--out", str(out), env=env)
    assert_clean_error(p, 1, "sbatch refused the job: sbatch: error: Batch job submission failed: Invalid account")
    assert not any(out.iterdir())


def test_collect_of_a_pending_job_says_so(tmp_path):
    bin_dir = tmp_path / "bin"
    env = fake_slurm(bin_dir, sbatch="echo 4242", srun='echo "slurm 0.0.0"',
                     scontrol='[ "$1" = show ] && echo "JobId=4242 JobName=x JobState=PENDING '
                              'Reason=Priority Dependency=(null) ExitCode=0:0"; exit 0')
    out = tmp_path / "out"
    p = convbench("strong", "--launches", "1", "--order", "sequential", "--launcher", "slurm", "--preset", "tiny", "--procs", "1,2",
                  "--out", str(out), env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "submitted Slurm job 4242" in p.stdout
    [d] = sweep_dirs(out)
    assert (d / "job.sbatch").is_file() and manifest(d)["slurm"]["job_id"] == "4242"
    c = convbench("collect", str(d), env=env)
    assert c.returncode == 75, c.stdout + c.stderr
    assert "job 4242: PENDING (Priority); 0 of 2 point(s) measured so far" in c.stdout
    # a second job must not write the same directory
    r = convbench("strong", "--launches", "1", "--order", "sequential", "--launcher", "slurm", "--resume", str(d), env=env)
    assert_clean_error(r, 2, "job 4242 of this sweep is still PENDING")
    assert manifest(d)["slurm"]["jobs"] == ["4242"]


def test_collect_records_the_end_only_under_the_directory_lock(tmp_path):
    """The job's end goes into the manifest only while collect holds the sweep directory's
    lock: a writer still there (the job's own convbench finishing) is never overwritten."""
    from convbench.engine.lock import SweepLock
    env = fake_slurm(tmp_path / "bin", sbatch="echo 4343", srun='echo "slurm 0.0.0"',
                     scontrol='[ "$1" = show ] && echo "JobId=4343 JobName=x JobState=COMPLETED '
                              'Reason=None ExitCode=0:0"; exit 0')
    out = tmp_path / "out"
    p = convbench("strong", "--launches", "1", "--launcher", "slurm", "--preset", "tiny",
                  "--procs", "1", "--out", str(out), env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    [d] = sweep_dirs(out)
    before = (d / "manifest.json").read_text()
    with SweepLock(d):                          # another writer holds the directory
        convbench("collect", str(d), env=env)
        assert (d / "manifest.json").read_text() == before
    convbench("collect", str(d), env=env)
    assert manifest(d)["slurm"]["state"] == "COMPLETED"


def test_collect_of_a_job_slurm_forgot_before_it_ran(tmp_path):
    env = fake_slurm(tmp_path / "bin", sbatch="echo 77", srun='echo "slurm 0.0.0"',
                     scontrol='[ "$1" = show ] && { echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1; }; exit 0',
                     sacct='echo "Slurm accounting storage is disabled" >&2; exit 1')
    out = tmp_path / "out"
    p = convbench("run", "--launches", "1", "--order", "sequential", "-n", "2", "--launcher", "slurm", "--preset", "tiny", "--out", str(out), env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    [d] = sweep_dirs(out)
    assert f"-m convbench run --launcher slurm --resume {d}" in (d / "job.sbatch").read_text()
    c = convbench("collect", str(d), env=env)
    assert_clean_error(c, 1, "Slurm does not know job 77 (any more) and the sweep did not run to its end")


def test_collect_of_a_sweep_that_was_not_submitted(tmp_path):
    d = tmp_path / "sweep"
    d.mkdir()
    p = invoke("collect", str(d))
    assert_clean_error(p, 2, "not a convbench sweep directory")
    (d / "manifest.json").write_text(json.dumps({"sweep": {"procs": [1]}, "workload": {}}))
    p = invoke("collect", str(d))
    assert_clean_error(p, 2, "not a sweep submitted with --launcher slurm")
    assert len((p.stdout + p.stderr).strip().splitlines()) == 1
