"""What both decompositions share: MPI, the workload, the weights and the timed step.

One repeat, timed on every rank with MPI.Wtime, a barrier after each phase so a phase's time
is that rank's own work and waiting shows up separately as ``wait_s``:

    barrier | scatter or halo | barrier | compute | barrier | gather or halo | barrier | allreduce

``time_s`` is the whole step on that rank; the figure of a repeat is its maximum over ranks.
The phases are those of :mod:`convbench.workload.phases`; ``comm_s`` is the sum of its
communication phases.

Outside the timed region, for the noise flags: ``t_wall`` (time.time(), read right after the
first barrier and before the step's clock starts: the moment the repeat started, the same on
every rank up to the clocks' offsets) and ``cpu`` (the CPU this rank ran on, read from
/proc/self/stat after the step's clock stopped).
"""
from __future__ import annotations

import time

import numpy as np

from convbench.core.host import current_cpu
from convbench.rank.backends import Backend
from convbench.results.records import PointSpec, StepTimes
from convbench.workload import datagen, phases


class Decomposition:
    """A point's share on this rank. Subclasses give phases() (the timed (name, function)
    pairs of one step, in order), outputs(), samples() and row_sums()."""

    def __init__(self, comm, spec: PointSpec):
        from mpi4py import MPI
        self.MPI, self.comm, self.spec = MPI, comm, spec
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.root = self.rank == 0
        self.wl = wl = spec.workload
        self.pass_, self.data = spec.pass_, spec.data
        self.fwd = self.pass_ in ("forward", "train")
        self.bwd = self.pass_ in ("backward", "train")
        self.skip = False           # the fault switch's "skip": compute only part of the share
        self.backend = Backend(spec.backend, wl.stride, wl.padding, spec.threads)
        self.w, self.b = datagen.weights(wl.seed, wl.weight_shape())
        self.dw = np.zeros(wl.weight_shape(), dtype=np.float32) if self.bwd else None
        self.db = np.zeros(wl.c_out, dtype=np.float32) if self.bwd else None
        self.dw_sum = np.zeros_like(self.dw) if self.bwd else None
        self.db_sum = np.zeros_like(self.db) if self.bwd else None

    #: the checksum is the same at every P (see SpatialPoint for when it is not)
    checksum_exact = True

    def outputs(self) -> list[np.ndarray]:
        return []

    def phases(self):
        raise NotImplementedError

    def samples(self) -> list[str]:
        raise NotImplementedError

    def row_sums(self) -> list:
        raise NotImplementedError

    @property
    def n_samples(self) -> int:
        """How many images this rank compares with the reference."""
        return self.spec.verify_samples if self.spec.verify else 0

    def step(self) -> StepTimes:
        MPI, comm = self.MPI, self.comm
        for a in self.outputs():      # untimed: an image the step skips cannot pass
            a.fill(np.nan)
        t = {p.name: 0.0 for p in phases.MEASURED}
        comm.Barrier()
        t_wall = time.time()          # untimed: before the step's clock starts
        t0 = MPI.Wtime()
        for phase, fn in self.phases():
            a = MPI.Wtime()
            fn()
            t[phase] += MPI.Wtime() - a
            comm.Barrier()
        if self.pass_ == "train":
            a = MPI.Wtime()
            comm.Allreduce(self.dw, self.dw_sum, op=MPI.SUM)
            comm.Allreduce(self.db, self.db_sum, op=MPI.SUM)
            t["allreduce"] = MPI.Wtime() - a
            comm.Barrier()
        total = MPI.Wtime() - t0
        return StepTimes(time_s=total, comm_s=sum(t[p.name] for p in phases.COMM),
                         wait_s=max(0.0, total - sum(t.values())),
                         **{f"{k}_s": v for k, v in t.items()},
                         t_wall=t_wall, cpu=current_cpu())     # untimed: the clock has stopped

    def weight_grad(self):
        """The whole-batch (dW, db) on rank 0: summed over ranks (train: already summed)."""
        if self.dw is None:
            return None, None
        if self.pass_ == "train":
            return self.dw_sum, self.db_sum
        dw, db = np.zeros_like(self.dw), np.zeros_like(self.db)
        self.comm.Reduce(self.dw, dw, op=self.MPI.SUM, root=0)
        self.comm.Reduce(self.db, db, op=self.MPI.SUM, root=0)
        return dw, db
