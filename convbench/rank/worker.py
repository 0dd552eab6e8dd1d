"""The program every MPI rank runs for one point: ``python -m convbench.rank.worker SPEC OUT``.

SPEC is a JSON file (written by the sweep): a :class:`~convbench.results.records.PointSpec`
with the workload, pass, data placement, decomposition, backend, repeats, warm-up and
verification settings. Each rank makes or receives its share, runs the warm-up and the timed
repeats (step.py), verifies (verify.py), and rank 0 writes OUT, a
:class:`~convbench.results.records.RankResult` (strict JSON, atomically).

Two decompositions: ``batch`` (batch.py: rank r computes images [start, end)) and ``spatial``
(spatial.py: every rank computes a block of output rows of every image, with a halo exchange).

Imports only the kernel, the reference, the workload, the partition and halo geometry, the data
generators, the records, and (for ``--backend torch`` / ``--images``) the modules behind them.
"""
from __future__ import annotations

import contextlib
import gc
import sys
import time
from pathlib import Path

from convbench.core.fsio import atomic_write
from convbench.core.host import affinity
from convbench.rank import faults, setup
from convbench.rank.verify import verify
from convbench.results import records
from convbench.results.records import PointSpec, RankReport, RankResult

#: decomposition -> its module and class, imported only by the points that use it
DECOMPOSITIONS = {"batch": ("convbench.rank.batch", "BatchPoint"),
                  "spatial": ("convbench.rank.spatial", "SpatialPoint")}


def _decomposition(name: str):
    import importlib
    module, cls = DECOMPOSITIONS[name]
    return getattr(importlib.import_module(module), cls)


def _status_mb(key: str) -> float:
    """VmRSS / VmHWM of this process in MB (Linux); ru_maxrss elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0)


def repeats_path(out_path: str) -> str:
    """Where rank 0 streams the repeats' times, beside OUT: one JSON line per repeat, a
    StepTimes per rank (RankResult.repeats_file names it)."""
    return str(Path(out_path).with_name(Path(out_path).name + ".repeats.jsonl"))


def run(spec: PointSpec, out_path: str) -> None:
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    if spec.decomp not in DECOMPOSITIONS:
        raise ValueError(f"unknown decomposition {spec.decomp!r}")
    decomposition = _decomposition(spec.decomp)     # its imports belong to the launch
    setup.idle_barrier(comm)
    ready_at = time.time()        # every rank has Python, its imports and MPI: launch is over
    rss_base = _status_mb("VmRSS")
    # the stages of the point, on rank 0's clock; each ends at a barrier (or, for the timed
    # steps, with the step's own barrier), so it lasts until the slowest rank is done
    t0 = setup_t0 = time.perf_counter()
    skip = faults.maybe_fault(rank, size, "setup")
    point = decomposition(comm, spec)
    setup_s = time.perf_counter() - setup_t0
    setup.idle_barrier(comm)
    t1 = time.perf_counter()

    for _ in range(spec.warmup):
        point.step()
    t2 = time.perf_counter()
    point.skip = faults.maybe_fault(rank, size, "compute") or skip
    stream = repeats_path(out_path) if rank == 0 else None
    with open(stream, "w", encoding="utf-8") if stream else contextlib.nullcontext() as f:
        for _ in range(spec.repeats):
            times = comm.gather(point.step(), root=0)   # untimed: the step's clock has stopped
            if f:                   # one line per repeat, written as it ends: nothing is held
                f.write(records.dumps([t.to_json() for t in times], indent=None) + "\n")
                f.flush()
    t3 = time.perf_counter()
    # the peak of the measured run: read before verification's float64 copies can raise it
    rss_peak = _status_mb("VmHWM")
    check = verify(point)

    mine = RankReport(rank=rank, host=MPI.Get_processor_name(), **point.extent(),
                      rss_base_mb=rss_base, rss_peak_mb=rss_peak, setup_s=setup_s,
                      repeats=[], affinity=affinity())
    ranks = comm.gather(mine, root=0)
    if rank != 0:
        return
    t4 = time.perf_counter()
    wl = point.wl
    errors = point.coverage_errors(ranks) + check.pop("verify_errors")
    result = RankResult(
        procs=size, batch=wl.batch, ready_at=ready_at, decomp=spec.decomp,
        backend=point.backend.name, output_shape=list(wl.output_shape()),
        mpi_library=MPI.Get_library_version().strip().splitlines()[0],
        mpi_version="%d.%d" % MPI.Get_version(),
        verified=not errors and spec.verify, verify_errors=errors,
        idle_ranks=[r.rank for r in ranks if r.images == 0], ranks=ranks, **check,
        data_s=t1 - t0, warmup_s=t2 - t1, repeats_s=t3 - t2, verify_s=t4 - t3,
        done_at=time.time(), repeats_file=Path(stream).name)
    atomic_write(out_path, records.dumps(result.to_json(), indent=None))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m convbench.rank.worker SPEC.json OUT.json", file=sys.stderr)
        return 2
    try:
        spec = PointSpec.read(argv[0])
    except records.RecordError as e:
        print(f"convbench.rank.worker: {e}", file=sys.stderr, flush=True)
        return 2
    try:
        run(spec, argv[1])
    except BaseException:
        # one failed rank must not leave the others waiting in a collective forever
        import traceback
        from mpi4py import MPI
        traceback.print_exc()
        e = sys.exc_info()[1]
        print(f"convbench.rank.worker: rank {MPI.COMM_WORLD.Get_rank()} failed: "
              f"{type(e).__name__}: {e}", file=sys.stderr, flush=True)
        MPI.COMM_WORLD.Abort(1)
    # The rank's work is done (its result written and synced). The interpreter's teardown
    # collects every object of numpy, mpi4py and convbench once more: frozen, they are skipped,
    # which takes about 13 ms off every launch's write_s (measured: 163 -> 150 ms for a rank
    # that imports and exits). os._exit after MPI.Finalize would save as much, but Hydra then
    # killed a rank now and then (signal 9 at P=4, oversubscribed).
    gc.freeze()
    return 0


if __name__ == "__main__":
    sys.exit(main())
