"""What the untimed stages of a point share: waiting without spinning, and how many threads
may make data.

MPI libraries busy-poll in a blocking barrier or gather: a rank that waits for rank 0 to make
the batch (or to sum it) takes a core from it, which on an oversubscribed node multiplies the
set-up time. :func:`idle_barrier` waits with a non-blocking barrier and short sleeps instead.
It is used only outside the timed steps, so what is measured does not change.
"""
from __future__ import annotations

import os
import time

#: how long a waiting rank sleeps between two tests of the barrier (seconds)
POLL_S = 0.0005


def idle_barrier(comm) -> None:
    """A barrier that sleeps while it waits (untimed stages only)."""
    req = comm.Ibarrier()
    while not req.Test():
        time.sleep(POLL_S)


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def data_threads(comm, makers: int) -> int:
    """Threads for making data on this rank when `makers` ranks of the job make data at the
    same time (the others wait in idle_barrier): the node's cores shared among its makers."""
    from mpi4py import MPI
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    on_node = local.Get_size()
    local.Free()
    makers_here = max(1, min(makers, on_node))
    return max(1, cores() // makers_here)
