"""A hostfile in the syntax of the MPI that reads it: convbench's check against the real launcher.

MPICH's Hydra reads ``host:N`` and refuses ``host slots=N``; Open MPI reads ``host slots=N`` and
takes ``host:N`` for a host named ``host:N`` (it would try to reach it). convbench refuses the
other vendor's form before anything is launched, and the vendor's own form runs. `make test`
runs these with MPICH, `make test-openmpi` with Open MPI. Only localhost is ever named.
"""
from __future__ import annotations

import os
import subprocess

import pytest

from conftest import MPI_TIMEOUT, assert_clean_error, run_cli, sweep_dirs

pytestmark = pytest.mark.mpi

FORMS = {"MPICH": "localhost:2\n", "Open MPI": "localhost slots=2\n"}


def _other(vendor: str) -> str:
    return FORMS["Open MPI" if vendor == "MPICH" else "MPICH"]


def _vendor_or_skip(mpi) -> str:
    if mpi.vendor not in FORMS:
        pytest.skip(f"no hostfile form known for {mpi.vendor}")
    return mpi.vendor


def test_the_other_vendors_form_is_refused_before_anything_runs(mpi, tmp_path):
    vendor = _vendor_or_skip(mpi)
    hf = tmp_path / "hosts"
    hf.write_text(_other(vendor))
    p = run_cli("strong", "--launches", "1", "--preset", "tiny", "--procs", "1,2",
                "--hostfile", str(hf), "--out", str(tmp_path / "out"))
    assert_clean_error(p, 2, "line 1")
    assert not (tmp_path / "out").exists() or not sweep_dirs(tmp_path / "out")


def test_mpich_itself_refuses_the_open_mpi_form(mpi, tmp_path):
    """What the check above knows, checked against Hydra (it fails while parsing the file)."""
    if mpi.vendor != "MPICH":
        pytest.skip("Hydra's own reading of a hostfile")
    hf = tmp_path / "hosts"
    hf.write_text(FORMS["Open MPI"])
    argv = mpi.command(1, ["true"], hostfile=str(hf))
    p = subprocess.run(argv, capture_output=True, text=True, timeout=MPI_TIMEOUT,
                       env={**os.environ, **mpi.env()}, stdin=subprocess.DEVNULL)
    assert p.returncode != 0 and "slots" in p.stdout + p.stderr


def test_the_vendors_own_form_runs(mpi, tmp_path):
    vendor = _vendor_or_skip(mpi)
    hf = tmp_path / "hosts"
    hf.write_text(FORMS[vendor])
    p = run_cli("strong", "--launches", "1", "--preset", "tiny", "--procs", "1,2",
                "--repeats", "1", "--warmup", "0", "--hostfile", str(hf),
                "--out", str(tmp_path / "out"))
    assert p.returncode == 0, p.stdout + p.stderr
    [d] = sweep_dirs(tmp_path / "out")
    assert (d / "summary.csv").read_text().count(",ok,") == 2
