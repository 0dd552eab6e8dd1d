"""One writer per results directory: an exclusive lock held while a sweep writes there.

The lock is ``fcntl.flock`` on ``DIR/.convbench.lock``: the kernel releases it when its holder
exits however it ends, so a lock is never left behind. The file records the holder (PID, start
time, host) so that a second writer can be told who holds it; a file that still names a holder
when the lock is free is one whose process is gone (killed with SIGKILL, a crashed machine),
and is taken over with a note. The file is opened without following a symbolic link, and a
file that is not a plain file of its own is refused: a results directory from elsewhere cannot
make convbench write to another file through it.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import stat
import time
from pathlib import Path

from convbench.core.errors import UsageError

LOCK = ".convbench.lock"
_MAX_INFO = 4096


class SweepLock:
    """``with SweepLock(d, note=print):`` - the exclusive lock of directory d, or UsageError
    (exit 2) naming the process that holds it."""

    def __init__(self, directory: str | Path, note=None):
        self.dir = Path(directory)
        self.note = note or (lambda line: None)
        self.fd: int | None = None

    def acquire(self) -> "SweepLock":
        path = self.dir / LOCK
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as e:
            raise UsageError(f"cannot lock {str(self.dir)!r} ({path.name}: "
                             f"{e.strerror or e}; a symbolic link is refused)") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                raise UsageError(f"cannot lock {str(self.dir)!r}: its {LOCK} is not a plain "
                                 "file of its own")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UsageError(f"{str(self.dir)!r} is being written by {_holder(fd)}: one "
                                 "sweep at a time writes a directory; wait for it to end or "
                                 "stop it") from None
            old = _read(fd)
            if old:
                self.note(f"took over the lock of {str(self.dir)!r} from {_describe(old)}, "
                          "which is gone")
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "started": _now(),
                                      "host": socket.gethostname()}).encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)        # an empty file: nobody to take over from
        except OSError:
            pass
        os.close(self.fd)                   # closing drops the flock
        self.fd = None

    def __enter__(self) -> "SweepLock":
        return self.acquire() if self.fd is None else self

    def __exit__(self, *exc) -> None:
        self.release()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _read(fd: int) -> dict:
    try:
        data = json.loads(os.pread(fd, _MAX_INFO, 0).decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _describe(info: dict) -> str:
    pid, started, host = info.get("pid"), info.get("started"), info.get("host")
    pid = pid if isinstance(pid, int) and not isinstance(pid, bool) else "?"
    started = started if isinstance(started, str) and len(started) < 40 else "?"
    where = f" on {host}" if isinstance(host, str) and host.isprintable() and len(host) < 100 else ""
    return f"PID {pid}{where} (started {started})"


def _holder(fd: int) -> str:
    info = _read(fd)
    return f"convbench {_describe(info)}" if info else "another convbench (starting up)"
