"""Slurm across the emulated hosts: slurmctld (and munged) here, one slurmd in each host.

It is the single-node test Slurm of tests/engine/test_slurm.py (same install, munge and stop)
with another slurm.conf: the controller listens on the hosts' bridge address and each slurmd
runs inside its host's namespaces (nsenter) as `slurmd -N nodeI`, so srun's ranks start there.
"""
from __future__ import annotations

import socket
import subprocess

from engine.test_slurm import SingleNodeSlurm, Unavailable, _free_port, which

__all__ = ["TwoNodeSlurm", "Unavailable"]


class TwoNodeSlurm(SingleNodeSlurm):
    def __init__(self, hosts):
        super().__init__()
        self.hosts = hosts

    def _node_words(self) -> str:
        """CPUs, sockets, cores, threads and memory of this machine, for every emulated node."""
        line = self._node_line()        # 'NodeName=<this machine> CPUs=... RealMemory=...'
        return " ".join(w for w in line.split()[1:] if not w.startswith(("NodeName", "UpTime")))

    def start(self) -> "TwoNodeSlurm":
        import os
        import tempfile
        from pathlib import Path
        if os.geteuid() != 0:
            raise Unavailable("installing Slurm and starting slurmd need root")
        self.install()
        self.root = Path(tempfile.mkdtemp(prefix="convbench-slurm2-"))
        self.root.chmod(0o755)
        try:
            sock = self._munge()
            words = self._node_words()
            for d in ("state", *(f"spool-{n}" for n in self.hosts.names)):
                (self.root / d).mkdir()
            r, h = self.root, self.hosts
            names = ",".join(h.names)
            self.node = names
            self.conf.write_text("\n".join([
                "ClusterName=convbenchtest2",
                f"SlurmctldHost={socket.gethostname().split('.')[0]}({h.head_addr})",
                f"SlurmctldPort={_free_port()}", f"SlurmdPort={_free_port()}",
                "SlurmUser=root", "SlurmdUser=root",
                "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={sock}",
                f"StateSaveLocation={r / 'state'}", f"SlurmdSpoolDir={r / 'spool-%n'}",
                f"SlurmctldPidFile={r / 'slurmctld.pid'}", f"SlurmdPidFile={r / 'slurmd-%n.pid'}",
                f"SlurmctldLogFile={r / 'slurmctld.log'}", f"SlurmdLogFile={r / 'slurmd-%n.log'}",
                "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
                "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
                "JobCompType=jobcomp/none", "MpiDefault=pmi2",
                "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core", "ReturnToService=2",
                *(f"NodeName={n} NodeAddr={a} {words} State=UNKNOWN"
                  for n, a in zip(h.names, h.addrs)),
                f"PartitionName=debug Nodes={names} Default=YES MaxTime=INFINITE State=UP",
                "",
            ]))
            self._daemon("slurmctld", [which("slurmctld"), "-D", "-i", "-f", str(self.conf)])
            for i, n in enumerate(h.names, 1):
                self._mount_cgroups(i)
                self._daemon(f"slurmd-{n}", [*h.nsenter(i), which("slurmd"), "-D", "-N", n,
                                             "-f", str(self.conf)])
            self._wait(self._idle, 60, "the nodes did not become idle")
        except BaseException:
            self.stop()
            raise
        return self

    def _mount_cgroups(self, i: int) -> None:
        """slurmd needs /sys/fs/cgroup, which `ip netns exec` hid under a fresh sysfs: mount
        this machine's cgroup hierarchies again in node i's mount namespace."""
        cmds = []
        with open("/proc/self/mounts") as f:
            for ln in f:
                _, target, fstype, opts = ln.split()[:4]
                if target == "/sys/fs/cgroup" or target.startswith("/sys/fs/cgroup/"):
                    cmds.append(f"mkdir -p {target} && mount -t {fstype} -o {opts} {fstype} {target}")
        if not cmds:
            return
        script = "grep -q ' /sys/fs/cgroup ' /proc/self/mounts || { " + " && ".join(cmds) + "; }"
        p = subprocess.run([*self.hosts.nsenter(i), "sh", "-c", script], capture_output=True,
                           text=True, timeout=30)
        if p.returncode != 0:
            raise Unavailable(f"cannot mount the cgroup hierarchies on node{i}: {p.stderr.strip()[:200]}")

    def _idle(self) -> bool:
        p = subprocess.run([which("sinfo"), "-h", "-N", "-o", "%N %T"], env=self.env,
                           capture_output=True, text=True, timeout=10)
        states = dict(ln.split() for ln in p.stdout.splitlines() if len(ln.split()) == 2)
        return all(states.get(n) == "idle" for n in self.hosts.names)
