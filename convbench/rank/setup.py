"""What the untimed stages of a point share: waiting without spinning, and how many threads
may make data.

MPI libraries busy-poll in a blocking barrier or gather: a rank that waits for rank 0 to make
the batch (or to sum it) takes a core from it, which on an oversubscribed node multiplies the
set-up time. :func:`idle_barrier` waits with a non-blocking barrier and short sleeps instead.
It is used only outside the timed steps, so what is measured does not change.
:func:`filled` writes a new buffer with several threads, so its first touch (slow on a
virtual machine) is set-up, not part of the warm-up; :func:`row_sums` sums rank 0's gathered
batch with them for verification.
"""
from __future__ import annotations

import os
import time

import numpy as np

#: how long a waiting rank sleeps between two tests of the barrier (seconds)
POLL_S = 0.005


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


def filled(shape, value: float, threads: int = 1) -> np.ndarray:
    """A new float32 array of `value`, written (its pages made resident) by up to `threads`
    threads: set-up work that would otherwise land in the first step."""
    a = np.empty(shape, dtype=np.float32)
    flat = a.reshape(-1)
    piece = 1 << 22
    parts = [flat[i:i + piece] for i in range(0, flat.size, piece)]
    if threads > 1 and len(parts) > 1:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(min(threads, len(parts))) as pool:
            list(pool.map(lambda p: p.fill(value), parts))
    else:
        flat.fill(value)
    return a


def row_sums(a: np.ndarray, threads: int = 1) -> np.ndarray:
    """a.sum(axis=3, dtype=float64) of an (images, channels, rows, columns) array, the images
    shared among up to `threads` threads (the same sums: each row is summed alone)."""
    out = np.empty(a.shape[:3], dtype=np.float64)
    per = max(1, (1 << 22) // max(1, a[0].size if len(a) else 1))  # images per piece: ~16 MB
    parts = [slice(i, i + per) for i in range(0, a.shape[0], per)]
    if threads > 1 and len(parts) > 1:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(min(threads, len(parts))) as pool:
            list(pool.map(lambda s: a[s].sum(axis=3, dtype=np.float64, out=out[s]), parts))
    else:
        a.sum(axis=3, dtype=np.float64, out=out)
    return out
