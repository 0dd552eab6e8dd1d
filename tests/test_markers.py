"""The guard in conftest.py keeps the `mpi` marker honest: a test that starts mpiexec, itself,
in a `convbench` subprocess, through a fixture, or through a helper that caches a real sweep,
fails unless marked `mpi`."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TESTS = '''
import pytest
from conftest import note_mpi, run_cli
from convbench.engine import launcher

def version():
    launcher.detect(launcher.find_mpiexec())

@pytest.mark.mpi
def test_marked_launch():
    version()

def test_unmarked_launch():
    version()

@pytest.mark.mpi
def test_marked_fixture(mpi):
    pass

def test_unmarked_fixture_made_earlier(mpi):
    pass

def test_unmarked_subprocess():
    assert run_cli("info").returncode == 0

def test_unmarked_cached_helper():
    note_mpi("a real sweep, cached")

def test_no_mpi_at_all():
    assert 1 + 1 == 2
'''


@pytest.mark.mpi
def test_an_unmarked_test_that_starts_mpiexec_fails(pytester):
    pytester.makeconftest(Path(__file__).with_name("conftest.py").read_text())
    pytester.makeini("[pytest]\nmarkers =\n    mpi: starts real mpiexec processes\n")
    pytester.makepyfile(test_guarded=TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=3, failed=4)
    for name in ("test_unmarked_launch", "test_unmarked_fixture_made_earlier",
                 "test_unmarked_subprocess", "test_unmarked_cached_helper"):
        result.stdout.fnmatch_lines([f"*{name} starts mpiexec but is not marked mpi*"])
