"""Nothing outlives a sweep: the signals that stop it, and the process tree of a launch.

* :func:`stop_on_signals` makes SIGHUP, SIGTERM, SIGINT and SIGQUIT stop a sweep the same way:
  the first one raises :class:`Interrupted` (a KeyboardInterrupt carrying the signal) in the main
  thread, so the running point's processes are killed and the manifest records the
  interruption; the exit status is 128 + the signal's number. It also makes this process a
  child subreaper (Linux ``PR_SET_CHILD_SUBREAPER``): a process of a point whose parent exits
  is re-parented to convbench, not to PID 1, so it can still be found and killed.
* :class:`Tree` follows everything one launch starts: the launched process's descendants, its
  process group and its session, and (as a subreaper) the orphans re-parented to convbench.
  Processes that left the group (``setsid``, an ssh of their own) are seen while their parent
  lives, remembered by PID and start time, and killed with the rest.

Linux /proc; elsewhere only the process group is killed.
"""
from __future__ import annotations

import os
import signal
import sys
import time

SIGNALS = tuple(getattr(signal, n) for n in ("SIGHUP", "SIGTERM", "SIGINT", "SIGQUIT")
                if hasattr(signal, n))
PR_SET_CHILD_SUBREAPER = 36


class Interrupted(KeyboardInterrupt):
    """A sweep stopped by a signal (SIGINT is Ctrl-C)."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def signum_of(e: BaseException) -> int:
    """The signal behind an interruption (a plain KeyboardInterrupt is SIGINT)."""
    return getattr(e, "signum", int(signal.SIGINT))


_state = {"stopping": False, "subreaper": False}


def stop_on_signals() -> None:
    """Each of SIGNALS stops the sweep of this (main) thread once; a second signal while the
    processes are being killed is ignored, so the kill always finishes."""
    def handler(signum, frame):
        if _state["stopping"]:
            return
        _state["stopping"] = True
        if signum == getattr(signal, "SIGHUP", None):
            _detach_terminal()
        raise Interrupted(signum)

    for s in SIGNALS:
        signal.signal(s, handler)
    become_subreaper()


def _detach_terminal() -> None:
    """After a hang-up the terminal is gone: writing to it would fail, so what would go there
    goes nowhere (output redirected to a file stays)."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None and os.isatty(stream.fileno()):
                stream.flush()
                os.dup2(null, stream.fileno())
        except (OSError, ValueError):
            pass
    os.close(null)


def become_subreaper() -> bool:
    """Ask Linux to re-parent this process's orphaned descendants to it (False elsewhere)."""
    if _state["subreaper"]:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        _state["subreaper"] = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
    return _state["subreaper"]


# ---- the processes of one launch ------------------------------------------------------------
def _table() -> dict[int, tuple[int, int, int, int, str]]:
    """pid -> (ppid, pgid, sid, start time, state) of every process /proc shows."""
    out = {}
    try:
        pids = [int(d) for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return out
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            out[pid] = (int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19]),
                        fields[0].decode())
        except (OSError, IndexError, ValueError):
            continue
    return out


class Tree:
    """The processes one launched process (``root``, a new session's leader) has started."""

    def __init__(self, root: int):
        self.root = root
        self.me = os.getpid()
        table = _table()
        self.before = {pid for pid, t in table.items() if t[0] == self.me}  # our other children
        self.seen: dict[int, int] = {}        # pid -> start time

    def scan(self) -> dict[int, tuple]:
        """Remember every process that belongs to the launch now; returns the table."""
        table = _table()
        children: dict[int, list[int]] = {}
        for pid, t in table.items():
            children.setdefault(t[0], []).append(pid)
        found = {pid for pid, t in table.items() if t[1] == self.root or t[2] == self.root}
        if _state["subreaper"]:   # orphans of the launch, re-parented to us
            found |= {p for p in children.get(self.me, []) if p not in self.before}
        stack = [self.root, *found]
        while stack:
            pid = stack.pop()
            for c in children.get(pid, []):
                if c not in found:
                    found.add(c)
                    stack.append(c)
        found.add(self.root)
        found.discard(self.me)
        for pid in found:
            if pid in table and pid not in self.seen:
                self.seen[pid] = table[pid][3]
        return table

    def alive(self) -> list[int]:
        """The remembered processes still running (same PID and start time, not a zombie)."""
        table = _table()
        return [p for p, start in self.seen.items()
                if p in table and table[p][3] == start and table[p][4] != "Z"]

    def signal(self, sig: int) -> None:
        """sig to the group, the session and every remembered process still there."""
        self.scan()
        try:
            os.killpg(self.root, sig)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in self.alive():
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def kill(self, seconds: float = 5.0) -> None:
        """SIGKILL everything left, then wait (at most `seconds`) until nothing runs, reaping
        the orphans re-parented to us."""
        self.signal(signal.SIGKILL)
        deadline = time.monotonic() + seconds
        while True:
            self._reap()
            left = self.alive()
            if not left or time.monotonic() > deadline:
                return
            for pid in left:            # started after the last look: kill them too
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.02)
            self.scan()

    def _reap(self) -> None:
        """Wait for the remembered processes that are our zombies (orphans we adopted)."""
        table = _table()
        for pid, start in list(self.seen.items()):
            t = table.get(pid)
            if pid == self.root or t is None or t[0] != self.me or t[3] != start or t[4] != "Z":
                continue                # subprocess.Popen waits for the root itself
            try:
                os.waitpid(pid, os.WNOHANG)
            except (ChildProcessError, OSError):
                pass


# ---- a short command whose output is read up to a limit ---------------------------------------
def run_bounded(argv: list[str], *, env: dict | None = None, limit: int = 64 * 1024,
                timeout: float = 30.0) -> tuple[int | None, str]:
    """(exit status, the first `limit` bytes of stdout and stderr together): a command that
    prints without end, or never ends, is killed after `limit` bytes or `timeout` seconds
    (status None). OSError if it cannot be started."""
    import selectors
    import subprocess
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True)
    tree = Tree(proc.pid)
    chunks, size = [], 0
    deadline = time.monotonic() + timeout
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        while size < limit:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(timeout=min(left, 0.5)):
                if left <= 0:
                    break
                tree.scan()
                continue
            data = os.read(proc.stdout.fileno(), min(65536, limit - size))
            if not data:
                break
            chunks.append(data)
            size += len(data)
        try:
            rc = proc.wait(timeout=max(0.0, min(1.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            rc = None
    finally:
        sel.close()
        if proc.poll() is None:
            tree.signal(signal.SIGKILL)
            proc.wait()
            rc = None
        tree.kill(1.0)
        proc.stdout.close()
    return rc, b"".join(chunks).decode("utf-8", errors="replace")
