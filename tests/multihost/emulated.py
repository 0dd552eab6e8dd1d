"""N emulated hosts on this machine (node1..nodeN), each a real ssh target for mpiexec and slurmd.

A host is a network namespace with a veth on a private bridge, plus its own hostname (UTS), IPC
and PID namespaces and a private tmpfs on /dev/shm, so that MPI sees a distinct host and its
bytes go over the virtual link instead of shared memory. An sshd is the host's PID 1; killing it
kills everything on that host. The filesystem stays shared (like NFS on /): the venv and the
test's temporary directories are visible on every host.

Everything made here is named after this process (``cb<pid>...``) or marked with it (the
/etc/hosts block, the ssh drop-in), is removed by :meth:`EmulatedHosts.down` even after a
failure, and only processes it started (their PIDs recorded) are ever killed. Traffic goes
only to the hosts' own addresses, inside a subnet checked to be unused on this machine.

Run as a script to bring the hosts up around one command (``-- CMD ...``); it prints the
set-up time and each host's veth byte counters::

    python tests/multihost/emulated.py --hosts 2 --slots 1 -- convbench strong --hostfile {hostfile} ...
"""
from __future__ import annotations

import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SBIN = os.pathsep.join(["/usr/sbin", "/sbin"])
HOSTS_FILE = Path("/etc/hosts")
SSH_DROPIN_DIR = Path("/etc/ssh/ssh_config.d")
MARK = "convbench-multihost"
#: candidate subnets, the recipe's first; the first one unused on this machine is taken
SUBNETS = [f"10.10.{k}.0/24" for k in range(0, 8)] + [f"10.200.{k}.0/24" for k in range(0, 8)]


class Unavailable(Exception):
    """Why this machine cannot emulate hosts."""


def which(name: str) -> str | None:
    return shutil.which(name, path=os.environ.get("PATH", "") + os.pathsep + SBIN)


def _run(*argv: str, check: bool = True, timeout: float = 30, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, **kw)
    if check and p.returncode != 0:
        raise Unavailable(f"{' '.join(argv)} failed: {(p.stderr or p.stdout).strip()[:200]}")
    return p


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def install_ssh() -> None:
    """apt-get install the ssh server (and client) where they are missing."""
    if which("sshd") and which("ssh") and which("ssh-keygen"):
        return
    if not which("apt-get"):
        raise Unavailable("no sshd and no apt-get to install openssh-server")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "openssh-server",
           "openssh-client"]
    p = _run(*cmd, check=False, timeout=900, env=env)
    if p.returncode != 0:         # a fresh machine may have no package index yet
        _run("apt-get", "update", "-q", check=False, timeout=900, env=env)
        p = _run(*cmd, check=False, timeout=900, env=env)
    if p.returncode != 0 or not which("sshd"):
        raise Unavailable(f"apt-get install openssh-server failed: {(p.stderr or p.stdout).strip()[-200:]}")


def free_subnet() -> ipaddress.IPv4Network:
    """The first candidate subnet that overlaps no address or route of this machine."""
    used = []
    for argv in (("ip", "-o", "-4", "addr", "show"), ("ip", "-4", "route", "show", "table", "all")):
        for word in re.findall(r"\b(\d+\.\d+\.\d+\.\d+(?:/\d+)?)\b", _run(*argv).stdout):
            used.append(ipaddress.ip_network(word, strict=False))
    for cand in map(ipaddress.ip_network, SUBNETS):
        if not any(cand.overlaps(u) for u in used if u.prefixlen > 0):
            return cand
    raise Unavailable(f"every candidate subnet ({SUBNETS[0]} ...) is in use here")


def _drop_stale_marks() -> None:
    """Remove /etc/hosts blocks and ssh drop-ins left by a run of this fixture that died."""
    if HOSTS_FILE.is_file():
        text = HOSTS_FILE.read_text()
        pat = re.compile(rf"\n?# >>> {MARK} (\d+) >>>\n.*?# <<< {MARK} \1 <<<\n", re.S)
        kept = pat.sub(lambda m: m.group(0) if _alive(int(m.group(1))) else "", text)
        if kept != text:
            _rewrite(HOSTS_FILE, kept)
    for f in SSH_DROPIN_DIR.glob(f"{MARK}-*.conf") if SSH_DROPIN_DIR.is_dir() else ():
        pid = f.stem.rsplit("-", 1)[1]
        if pid.isdigit() and not _alive(int(pid)):
            f.unlink(missing_ok=True)


def _rewrite(path: Path, text: str) -> None:
    """In place (/etc/hosts may be a bind mount that a rename would not reach)."""
    with open(path, "r+") as f:
        f.seek(0)
        f.write(text)
        f.truncate()


class EmulatedHosts:
    """node1..nodeN: start with :meth:`up`, stop with :meth:`down` (idempotent)."""

    def __init__(self, n: int = 2):
        self.n = n
        tag = f"cb{os.getpid()}"
        self.bridge = f"{tag}br"
        self.netns = [f"{tag}n{i}" for i in range(1, n + 1)]
        self.veths = [f"{tag}h{i}" for i in range(1, n + 1)]   # the host ends, on the bridge
        self.names = [f"node{i}" for i in range(1, n + 1)]
        self.addrs: list[str] = []
        self.head_addr = ""
        self.root: Path | None = None
        self.procs: dict[int, subprocess.Popen] = {}   # node index -> the unshare process
        self.made: list[tuple[str, str]] = []         # what to undo, in order of making
        self.hosts_block = ""
        self.setup_s = float("nan")

    # ---- up ---------------------------------------------------------------------------------
    def up(self) -> "EmulatedHosts":
        t0 = time.perf_counter()
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            raise Unavailable("emulating hosts needs root (network, UTS, IPC and PID namespaces)")
        for tool in ("ip", "unshare", "nsenter"):
            if not which(tool):
                raise Unavailable(f"no {tool} here (iproute2 / util-linux)")
        for ns in ("net", "uts", "ipc", "pid", "mnt"):
            if not Path(f"/proc/self/ns/{ns}").exists():
                raise Unavailable(f"this kernel has no {ns} namespaces")
        install_ssh()
        try:
            self._up()
        except BaseException:
            self.down()
            raise
        self.setup_s = time.perf_counter() - t0
        return self

    def _up(self) -> None:
        _drop_stale_marks()
        net = free_subnet()
        ips = list(net.hosts())
        self.addrs = [str(ips[i]) for i in range(self.n)]
        self.head_addr = str(ips[-1])
        self.root = Path(tempfile.mkdtemp(prefix="convbench-hosts-"))
        self.made.append(("dir", str(self.root)))
        r = self.root
        _run(which("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", str(r / "host_key"))
        _run(which("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", str(r / "id"))
        (r / "sshd_config").write_text("\n".join([
            f"HostKey {r / 'host_key'}", f"AuthorizedKeysFile {r / 'id.pub'}", "UsePAM no",
            "StrictModes no", "MaxStartups 200", "PermitRootLogin yes",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PidFile none",
            "LogLevel ERROR", ""]))
        if not Path("/run/sshd").is_dir():      # sshd's privilege separation directory
            os.makedirs("/run/sshd", mode=0o755)
            self.made.append(("rundir", "/run/sshd"))

        ip = which("ip")
        self.made.append(("link", self.bridge))
        _run(ip, "link", "add", self.bridge, "type", "bridge")
        _run(ip, "addr", "add", f"{self.head_addr}/{net.prefixlen}", "dev", self.bridge)
        _run(ip, "link", "set", self.bridge, "up")
        me = socket.gethostname()
        lines = ["127.0.0.1 localhost"] + [f"{a} {h}" for a, h in zip(self.addrs, self.names)]
        lines.append(f"{self.head_addr} {' '.join(dict.fromkeys([me, me.split('.')[0]]))}")
        for i, (ns, veth, addr) in enumerate(zip(self.netns, self.veths, self.addrs), 1):
            self.made.append(("netns", ns))
            _run(ip, "netns", "add", ns)
            _run(ip, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _run(ip, "link", "set", veth, "master", self.bridge, "up")
            _run(ip, "-n", ns, "addr", "add", f"{addr}/{net.prefixlen}", "dev", "eth0")
            _run(ip, "-n", ns, "link", "set", "eth0", "up")
            _run(ip, "-n", ns, "link", "set", "lo", "up")
            etc = Path("/etc/netns") / ns     # `ip netns exec` mounts its hosts over /etc/hosts
            if not etc.parent.is_dir():
                etc.parent.mkdir()
                self.made.append(("rundir", str(etc.parent)))
            self.made.append(("dir", str(etc)))
            etc.mkdir()
            (etc / "hosts").write_text("\n".join(lines) + "\n")
        self._mark_hosts()
        self._ssh_dropin()
        for i in range(1, self.n + 1):
            self.start_node(i, wait=False)
        self.wait_ready()

    def _mark_hosts(self) -> None:
        text = HOSTS_FILE.read_text()
        lead = "" if text.endswith("\n") or not text else "\n"
        body = "".join(f"{a} {h}\n" for a, h in zip(self.addrs, self.names))
        self.hosts_block = f"{lead}# >>> {MARK} {os.getpid()} >>>\n{body}# <<< {MARK} {os.getpid()} <<<\n"
        self.made.append(("hosts", ""))
        _rewrite(HOSTS_FILE, text + self.hosts_block)

    @property
    def dropin(self) -> Path:
        return SSH_DROPIN_DIR / f"{MARK}-{os.getpid()}.conf"

    def _ssh_dropin(self) -> None:
        SSH_DROPIN_DIR.mkdir(parents=True, exist_ok=True)
        self.made.append(("file", str(self.dropin)))
        self.dropin.write_text("\n".join([
            f"# {MARK}: emulated hosts of a test run (process {os.getpid()}); removed at its end",
            f"Host {' '.join(self.names)}", "    User root", f"    IdentityFile {self.root / 'id'}",
            "    IdentitiesOnly yes", "    StrictHostKeyChecking no",
            "    UserKnownHostsFile /dev/null", "    BatchMode yes", "    LogLevel ERROR",
            "    ConnectTimeout 5", ""]))

    def start_node(self, i: int, wait: bool = True) -> None:
        """Start (or restart) node i: its own UTS/IPC/PID namespaces with sshd as PID 1."""
        addr, ns = self.addrs[i - 1], self.netns[i - 1]
        # a node-local TMPDIR for what runs there: PIDs repeat across the nodes' PID namespaces,
        # and Open MPI's daemons name their session directory (/tmp/prted.PID) by PID alone
        tmp = self.root / f"node{i}-tmp"
        tmp.mkdir(mode=0o1777, exist_ok=True)
        script = (f"hostname {self.names[i - 1]} && mount -t tmpfs -o mode=1777 tmpfs /dev/shm && "
                  f"exec {which('sshd')} -D -e -f {self.root / 'sshd_config'} "
                  f"-o ListenAddress={addr} -o SetEnv=TMPDIR={tmp}")
        log = open(self.root / f"node{i}.log", "ab")
        self.procs[i] = subprocess.Popen(
            [which("ip"), "netns", "exec", ns, which("unshare"), "--uts", "--ipc", "--pid",
             "--fork", "--kill-child", "--mount-proc", "sh", "-c", script],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        if wait:
            self.wait_ready([i])

    def init_pid(self, i: int) -> int | None:
        """The root-namespace PID of node i's PID 1 (its sshd), None if it is not running."""
        proc = self.procs.get(i)
        if proc is None or proc.poll() is not None:
            return None
        try:
            kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        except OSError:
            return None
        return int(kids[0]) if kids else None

    def wait_ready(self, nodes: list[int] | None = None, seconds: float = 20) -> None:
        """Until `ssh nodeI hostname` answers nodeI on every node."""
        nodes = nodes or list(range(1, self.n + 1))
        deadline = time.monotonic() + seconds
        pending = set(nodes)
        while pending:
            for i in sorted(pending):
                if self.procs[i].poll() is not None:
                    raise Unavailable(f"node{i} stopped at once: {self.log(i)}")
                try:
                    with socket.create_connection((self.addrs[i - 1], 22), timeout=1):
                        pass
                except OSError:
                    continue
                p = _run(which("ssh"), self.names[i - 1], "hostname", check=False, timeout=15)
                if p.stdout.strip() == self.names[i - 1]:
                    pending.discard(i)
            if pending and time.monotonic() > deadline:
                raise Unavailable(f"{', '.join(f'node{i}' for i in sorted(pending))} not reachable "
                                  f"over ssh within {seconds:.0f} s: {self.log(min(pending))}")
            if pending:
                time.sleep(0.05)

    def log(self, i: int) -> str:
        try:
            lines = (self.root / f"node{i}.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1] if lines else "no output"

    # ---- during a test -------------------------------------------------------------------------
    def kill_node(self, i: int) -> None:
        """node i is lost: its PID 1 killed, so the kernel kills everything on it."""
        pid = self.init_pid(i)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        proc = self.procs.get(i)
        if proc is not None:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:     # unshare itself: a PID we started
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def nsenter(self, i: int) -> list[str]:
        """The command prefix that runs a program on node i (all of its namespaces)."""
        pid = self.init_pid(i)
        if pid is None:
            raise Unavailable(f"node{i} is not running")
        return [which("nsenter"), "-t", str(pid), "-n", "-u", "-i", "-p", "-m"]

    def counters(self) -> dict[str, tuple[int, int]]:
        """Bytes (received, sent) by each node, read on the host ends of the veths."""
        out = {}
        for name, veth in zip(self.names, self.veths):
            s = Path("/sys/class/net") / veth / "statistics"
            # the host end's tx is what the node received, its rx what the node sent
            out[name] = (int((s / "tx_bytes").read_text()), int((s / "rx_bytes").read_text()))
        return out

    def hostfile(self, path: Path, slots: int, vendor: str = "MPICH") -> Path:
        """node1..nodeN with `slots` each, in MPICH (host:N) or Open MPI (host slots=N) form."""
        form = "{h} slots={n}" if vendor == "Open MPI" else "{h}:{n}"
        path.write_text("".join(form.format(h=h, n=slots) + "\n" for h in self.names))
        return path

    # ---- down -------------------------------------------------------------------------------
    def down(self) -> None:
        """Stop every node, delete what was made; safe to call twice or after a failed up()."""
        for i in list(self.procs):
            try:
                self.kill_node(i)
            except (OSError, subprocess.SubprocessError):
                pass
        self.procs.clear()
        ip = which("ip")
        for kind, what in reversed(self.made):
            try:
                if kind == "netns":
                    _run(ip, "netns", "del", what, check=False)
                elif kind == "link":
                    _run(ip, "link", "del", what, check=False)
                elif kind == "hosts" and self.hosts_block:
                    text = HOSTS_FILE.read_text()
                    if self.hosts_block in text:
                        _rewrite(HOSTS_FILE, text.replace(self.hosts_block, "", 1))
                elif kind == "file":
                    Path(what).unlink(missing_ok=True)
                elif kind == "rundir":
                    os.rmdir(what)
                elif kind == "dir":
                    shutil.rmtree(what, ignore_errors=True)
            except (OSError, subprocess.SubprocessError):
                pass
        self.made.clear()


def main(argv: list[str]) -> int:
    """--hosts N [--slots S] -- CMD...: the hosts up around CMD; {hostfile} in CMD is an MPICH
    hostfile of node1..nodeN with S slots each."""
    n = int(argv[argv.index("--hosts") + 1]) if "--hosts" in argv else 2
    slots = int(argv[argv.index("--slots") + 1]) if "--slots" in argv else 2
    cmd = argv[argv.index("--") + 1:] if "--" in argv else []
    hosts = EmulatedHosts(n)
    try:
        hosts.up()
        print(f"{n} hosts up in {hosts.setup_s:.2f} s: "
              + ", ".join(f"{h}={a}" for h, a in zip(hosts.names, hosts.addrs)), flush=True)
        hf = hosts.hostfile(hosts.root / "hostfile", slots=slots)
        before = hosts.counters()
        rc = subprocess.call([w.replace("{hostfile}", str(hf)) for w in cmd]) if cmd else 0
        after = hosts.counters()
        for h in hosts.names:
            rx, tx = (after[h][k] - before[h][k] for k in (0, 1))
            print(f"{h}: received {rx} B, sent {tx} B over its veth")
        return rc
    except Unavailable as e:
        print(f"cannot emulate hosts here: {e}", file=sys.stderr)
        return 2
    finally:
        t = time.perf_counter()
        hosts.down()
        print(f"torn down in {time.perf_counter() - t:.2f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
