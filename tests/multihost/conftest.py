"""The emulated hosts (node1, node2) that the multi-host tests run MPI and Slurm across.

Up once per session (about a second or two; the time is printed), down at its end; skipped with
the reason where this machine cannot make them (not root, no namespaces, no sshd and no apt-get).
"""
from __future__ import annotations

import subprocess

import pytest

from multihost.emulated import EmulatedHosts, Unavailable


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
