"""What `convbench info` reports about MPI: the launcher, its vendor, the slots, and the MPI
library the ranks actually load (asked of one real rank, so a broken set-up shows here)."""
from __future__ import annotations

import os
import subprocess
import sys

from convbench.core import host
from convbench.engine import launcher as launch
from convbench.core.errors import ConvbenchError

_ASK = "from mpi4py import MPI; print(MPI.Get_library_version().strip().splitlines()[0]); print('%d.%d' % MPI.Get_version())"


def mpi_facts(mpiexec: str | None = None) -> list[tuple[str, str]]:
    try:
        mpi = launch.detect(launch.find_mpiexec(mpiexec))
    except ConvbenchError as e:
        return [("mpiexec", f"not usable: {e}")]
    facts = [("mpiexec", mpi.path), ("MPI vendor", mpi.vendor), ("launcher", mpi.version),
             ("slots (cores here)", str(host.core_count()))]
    argv = mpi.command(1, [sys.executable, "-c", _ASK])
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                              env={**os.environ, **mpi.env()}, stdin=subprocess.DEVNULL)
        lines = proc.stdout.strip().splitlines()
        if proc.returncode == 0 and len(lines) >= 2:
            facts += [("MPI library", lines[-2]), ("MPI standard", lines[-1])]
        else:
            err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            facts.append(("MPI library", f"a 1-rank test run failed (status {proc.returncode}): {err}"))
    except (OSError, subprocess.TimeoutExpired) as e:
        facts.append(("MPI library", f"a 1-rank test run failed: {e}"))
    return facts
