"""Shared test helpers: the CLI in-process (usage errors) and in a subprocess (as a user runs
it), real mpiexec, and the guard that keeps the `mpi` marker honest.

The guard: for the whole session $CONVBENCH_MPIEXEC names a small script that appends a line
to the file in $CONVBENCH_TEST_LAUNCHES (one file per test) and then execs the real mpiexec.
Every launch, in-process or in a `convbench` subprocess, goes through it; a test that launched
mpiexec, or used a fixture or helper that did, fails unless it is marked `mpi`."""
from __future__ import annotations

import csv
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from convbench.engine import launcher

#: every MPI run is bounded: one failed rank can leave the others waiting forever
MPI_TIMEOUT = 180
#: the file each test's mpiexec launches are written to
LAUNCHES = "CONVBENCH_TEST_LAUNCHES"

_state: dict = {"dir": None, "n": 0, "fixtures": set()}


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


def invoke(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """`convbench ARGS` in this process (typer's CliRunner), for usage errors: the same exit
    status and output as `run_cli`, without starting Python. An exception that escapes the app
    (a traceback for a user) is raised here, so the test fails with it."""
    from typer.testing import CliRunner

    from convbench.cli import app

    old = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", **(env or {})})
    finally:
        os.chdir(old)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(["convbench", *args], result.exit_code,
                                       result.stdout, result.stderr)


def assert_clean_error(proc: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    """Exit status `code`, no traceback, and a message naming the problem."""
    text = proc.stdout + proc.stderr
    assert proc.returncode == code, text
    assert "Traceback" not in text, text
    for n in needles:
        assert n.lower() in text.lower(), f"{n!r} not in:\n{text}"


def sweep_dirs(out: Path) -> list[Path]:
    """The sweep directories convbench made under `out`, oldest name first."""
    return sorted(p for p in Path(out).iterdir() if p.is_dir())


def read_csv(path: Path) -> list[dict]:
    """A results CSV (summary.csv, ranks.csv) as rows of strings."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def summary_by_procs(d: Path) -> dict[int, dict]:
    """A sweep directory's summary.csv rows by rank count."""
    return {int(r["procs"]): r for r in read_csv(Path(d) / "summary.csv")}


def fault_env(**fault) -> dict:
    """The environment that makes a rank misbehave on purpose (see convbench.rank.worker)."""
    return {"CONVBENCH_TEST_FAULTS": "1", "CONVBENCH_TEST_FAULT": json.dumps(fault)}


@pytest.fixture
def every_thread(monkeypatch):
    """The C kernel gives small calls fewer threads than asked; tests using this want them all
    (convbench.kernel reads CONVBENCH_THREAD_MIN_FLOPS once, at import, into THREAD_MIN_FLOPS)."""
    from convbench import kernel
    monkeypatch.setattr(kernel, "THREAD_MIN_FLOPS", 0.0)


def note_mpi(what: str) -> None:
    """Count as an mpiexec launch of the running test (for helpers that cache a real sweep)."""
    log = os.environ.get(LAUNCHES)
    if log:
        with open(log, "a") as f:
            f.write(f"{what}\n")


# ---- the guard -----------------------------------------------------------------------------
def pytest_configure(config):
    try:
        real = launcher.find_mpiexec()
    except Exception:           # no MPI here: the mpi tests fail on their own
        return
    d = Path(tempfile.mkdtemp(prefix="convbench-tests-"))
    script = d / "mpiexec"
    script.write_text(f'#!/bin/sh\n[ -n "${LAUNCHES}" ] && echo "mpiexec $*" >> "${LAUNCHES}"\n'
                      f'exec {shlex.quote(real)} "$@"\n')
    script.chmod(0o755)
    os.environ["CONVBENCH_MPIEXEC"] = str(script)
    _state["dir"] = d


def pytest_unconfigure(config):
    if _state["dir"] is not None:
        shutil.rmtree(_state["dir"], ignore_errors=True)


def _launches() -> list[str]:
    log = os.environ.get(LAUNCHES)
    return Path(log).read_text().splitlines() if log and os.path.exists(log) else []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if _state["dir"] is None:
        return (yield)
    _state["n"] += 1
    os.environ[LAUNCHES] = str(_state["dir"] / f"launches-{_state['n']}")
    try:
        return (yield)
    finally:
        os.environ.pop(LAUNCHES, None)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    before = len(_launches())
    try:
        return (yield)
    finally:
        if len(_launches()) > before:
            _state["fixtures"].add(fixturedef.argname)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    if _state["dir"] is not None and item.get_closest_marker("mpi") is None:
        launched = _launches()
        fixtures = sorted(_state["fixtures"] & set(item.fixturenames))
        if launched or fixtures:
            pytest.fail(f"{item.nodeid} starts mpiexec but is not marked mpi: "
                        f"{(launched + [f'fixture {f}' for f in fixtures])[:3]}", pytrace=False)
    return result
