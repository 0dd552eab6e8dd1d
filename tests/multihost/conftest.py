"""The emulated hosts (node1, node2) that the multi-host tests run MPI and Slurm across.

Up once per session (about a second or two; the time is printed), down at its end; skipped with
the reason where this machine cannot make them (not root, no namespaces, no sshd and no apt-get).
"""
from __future__ import annotations

import subprocess

import pytest

from multihost.emulated import EmulatedHosts, Unavailable
from multihost.helpers import only_vendor
from multihost.slurm_nodes import TwoNodeSlurm, Unavailable as SlurmUnavailable


@pytest.fixture(scope="session")
def hosts(request):
    h = EmulatedHosts(2)
    try:
        h.up()
    except Unavailable as e:
        pytest.skip(f"no emulated hosts here: {e}")
    except (OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"no emulated hosts here: {e.__class__.__name__}: {e}")
    report = request.config.pluginmanager.get_plugin("terminalreporter")
    if report is not None:
        report.write_line(f"\nemulated hosts {', '.join(h.names)} up in {h.setup_s:.2f} s")
    yield h
    h.down()


@pytest.fixture(scope="session")
def slurm2(hosts, mpi):
    """slurmctld here and a slurmd in each emulated host: one cluster for the whole session (a
    second one started right after the first stopped could find a node's slurmd port still
    held, and its nodes would never come up)."""
    only_vendor(mpi, "MPICH")      # srun --mpi=pmi2 starts the MPICH wheel's ranks
    try:
        s = TwoNodeSlurm(hosts).start()
    except SlurmUnavailable as e:
        pytest.skip(f"no two-node Slurm here: {e}")
    except (OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"no two-node Slurm here: {e.__class__.__name__}: {e}")
    yield s
    s.stop()
