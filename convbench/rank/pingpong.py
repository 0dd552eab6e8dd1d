"""The network's own speed: an MPI ping-pong between two ranks, ``python -m convbench.rank.pingpong
OUT [--sizes 8,32,...] [--repeats R] [--warmup W]`` under ``mpiexec -n 2``.

After 100 untimed round trips of 8 B (the connection set up), for every message size, rank 0 sends the message to rank 1 and rank 1 sends it back (blocking
Send / Recv of a uint8 buffer). After ``warmup`` (at least iters / 10) untimed round trips, each of ``repeats`` timed
rounds starts with a Barrier and times ``iters`` round trips with MPI.Wtime; a round's one-way
time is its time / (2 iters); the size's time is the median over the rounds. ``iters`` is many
for small messages (the timer's resolution) and few for large ones (a few hundred MB a round).

Rank 0 writes OUT (JSON): {"hosts": [host of rank 0, host of rank 1], "sizes": [bytes],
"one_way_s": [median one-way time], "mpi_library": "..."}. The launching side
(convbench.engine.network) turns that into a latency and a bandwidth. Standard library, numpy
and mpi4py only, like every rank program.
"""
from __future__ import annotations

import json
import socket
import statistics
import sys

from convbench.core.fsio import atomic_write

#: 8 B to 64 MiB: powers of 4 from 8 B, then 64 MiB
DEFAULT_SIZES = tuple(8 * 4 ** k for k in range(12)) + (64 * 2 ** 20,)
#: bytes one timed round sends each way, at most (small messages: at most MAX_ITERS trips)
ROUND_BYTES = 128 * 2 ** 20
MAX_ITERS = 200


def iterations(nbytes: int) -> int:
    """Round trips one timed round makes for messages of nbytes."""
    return max(2, min(MAX_ITERS, ROUND_BYTES // max(nbytes, 1)))


def _trips(comm, buf, peer: int, k: int) -> None:
    """k round trips of buf: rank 0 sends first, rank 1 answers."""
    first = comm.Get_rank() == 0
    for _ in range(k):
        if first:
            comm.Send(buf, dest=peer, tag=7)
            comm.Recv(buf, source=peer, tag=7)
        else:
            comm.Recv(buf, source=peer, tag=7)
            comm.Send(buf, dest=peer, tag=7)


def pingpong(comm, sizes, repeats: int, warmup: int) -> list[float]:
    """Median one-way seconds per size (on rank 0; the other rank gets the same list)."""
    import numpy as np
    from mpi4py import MPI
    peer = 1 - comm.Get_rank()
    out = []
    _trips(comm, np.zeros(8, np.uint8), peer, 100)   # the first messages set up the connection
    for n in sizes:
        buf = np.zeros(n, np.uint8)
        iters = iterations(n)
        _trips(comm, buf, peer, max(warmup, iters // 10))
        rounds = []
        for _ in range(repeats):
            comm.Barrier()
            t0 = MPI.Wtime()
            _trips(comm, buf, peer, iters)
            rounds.append((MPI.Wtime() - t0) / (2 * iters))
        # rank 0's clock times the round trips; both ranks agree on what to report
        out.append(comm.bcast(statistics.median(rounds), root=0))
    return out


def _args(argv: list[str]) -> tuple[str, list[int], int, int]:
    usage = "usage: python -m convbench.rank.pingpong OUT [--sizes N,N,..] [--repeats R] [--warmup W]"
    if not argv or argv[0].startswith("-"):
        raise SystemExit(usage)
    out, rest = argv[0], argv[1:]
    opts = {"--sizes": ",".join(map(str, DEFAULT_SIZES)), "--repeats": "5", "--warmup": "2"}
    while rest:
        if rest[0] not in opts or len(rest) < 2:
            raise SystemExit(usage)
        opts[rest[0]] = rest[1]
        rest = rest[2:]
    try:
        sizes = [int(s) for s in opts["--sizes"].split(",") if s.strip()]
        repeats, warmup = int(opts["--repeats"]), int(opts["--warmup"])
    except ValueError:
        raise SystemExit(usage) from None
    if not sizes or min(sizes) < 1 or repeats < 1 or warmup < 0:
        raise SystemExit(f"{usage}\n(sizes >= 1 byte, repeats >= 1, warm-up >= 0)")
    return out, sizes, repeats, warmup


def main(argv: list[str] | None = None) -> int:
    out, sizes, repeats, warmup = _args(sys.argv[1:] if argv is None else argv)
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    if comm.Get_size() != 2:
        if comm.Get_rank() == 0:
            print(f"convbench.rank.pingpong: needs exactly 2 ranks, got {comm.Get_size()}",
                  file=sys.stderr)
        return 2
    hosts = comm.gather(socket.gethostname(), root=0)
    times = pingpong(comm, sizes, repeats, warmup)
    if comm.Get_rank() == 0:
        record = {"hosts": hosts, "sizes": sizes, "one_way_s": times, "repeats": repeats,
                  "warmup": warmup,
                  "mpi_library": MPI.Get_library_version().strip().splitlines()[0]}
        atomic_write(out, json.dumps(record) + "\n", "the ping-pong result")
    comm.Barrier()
    return 0


if __name__ == "__main__":
    sys.exit(main())
