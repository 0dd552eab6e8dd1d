"""Shared test helpers: real subprocesses of the convbench CLI, real mpiexec."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from convbench.engine import launcher

#: every MPI run is bounded: one failed rank can leave the others waiting forever
MPI_TIMEOUT = 180


@pytest.fixture(scope="session")
def mpi():
    """The MPI launcher convbench would use (the tests need a real one)."""
    return launcher.detect(launcher.find_mpiexec())


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None,
            timeout: float = MPI_TIMEOUT) -> subprocess.CompletedProcess:
    """`python -m convbench ARGS` in a subprocess, as a user would run it."""
    return subprocess.run([sys.executable, "-m", "convbench", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200", **(env or {})},
                          stdin=subprocess.DEVNULL)


def assert_clean_error(proc: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    """Exit status `code`, no traceback, and a message naming the problem."""
    text = proc.stdout + proc.stderr
    assert proc.returncode == code, text
    assert "Traceback" not in text, text
    for n in needles:
        assert n.lower() in text.lower(), f"{n!r} not in:\n{text}"


def sweep_dirs(out: Path) -> list[Path]:
    return sorted(p for p in Path(out).iterdir() if p.is_dir())
