"""The program every MPI rank runs for one point: ``python -m convbench.rank.worker SPEC OUT``.

SPEC is a JSON file (written by the sweep) with the workload, pass, data placement,
decomposition, backend, repeats, warm-up and verification settings. Each rank makes or receives
its share, runs the warm-up and the timed repeats, verifies, and rank 0 writes OUT (JSON,
atomically).

Two decompositions:
- ``batch``: rank r computes images [start, end) of the batch (partition.py).
- ``spatial``: every rank computes a block of output rows of every image; the input rows its
  block needs beyond its own (a halo of K - stride rows) come from the next rank(s) by
  Sendrecv, and in the backward pass the input gradient of those rows goes back (halo.py).

One repeat, timed on every rank with MPI.Wtime, a barrier before each phase so a phase's time
is that rank's own work and waiting shows up separately as ``wait_s``:

    barrier | scatter or halo | barrier | compute | barrier | gather or halo | barrier | allreduce

``time_s`` is the whole step on that rank; the figure of a repeat is its maximum over ranks.

Verification: every output row of every image is summed in float64 on the rank that owns it;
rank 0 assembles the (image, channel, row) table, checks that every row was produced exactly
once and is finite (outputs are NaN before each step), and adds the table exactly
(math.fsum), so the checksum is identical whatever the decomposition and P. Sample images are
compared with the numpy reference on every rank.

Imports only the kernel, the reference, the workload, the partition and halo geometry, the data
generators, and (for ``--backend torch`` / ``--images``) the modules behind them.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time

import numpy as np

from convbench.core.fsio import atomic_write
from convbench.core.numeric import rel_err
from convbench.workload import datagen
from convbench.rank import halo
from convbench import kernel
from convbench.workload import partition
from convbench.kernel import reference
from convbench.workload.spec import Workload

PHASES = ("scatter", "halo", "compute", "gather", "allreduce")


# ---- memory -------------------------------------------------------------------------------
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


# ---- the test-only fault switch -------------------------------------------------------------
def _maybe_fault(spec: dict, rank: int, size: int, where: str) -> None:
    """Fault injection for the robustness tests. Inert unless the environment carries BOTH
    CONVBENCH_TEST_FAULTS=1 and CONVBENCH_TEST_FAULT, a JSON object such as
    {"kind": "kill"|"sleep"|"exit"|"skip", "rank": 1, "procs": 2, "where": "compute"|"setup"}
    (procs: only at that rank count), so no user can trigger it by accident."""
    if os.environ.get("CONVBENCH_TEST_FAULTS") != "1" or "CONVBENCH_TEST_FAULT" not in os.environ:
        return
    fault = json.loads(os.environ["CONVBENCH_TEST_FAULT"])
    if fault.get("rank", 0) != rank or fault.get("where", "compute") != where:
        return
    if fault.get("procs") not in (None, size):
        return
    kind = fault.get("kind")
    if kind == "kill":
        import signal
        os.kill(os.getpid(), signal.SIGKILL)
    elif kind == "sleep":
        time.sleep(float(fault.get("seconds", 3600)))
    elif kind == "exit":
        os._exit(int(fault.get("code", 3)))
    elif kind == "skip":        # reproduce the original bug: compute only part of the share
        spec["_skip"] = True


# ---- compute backends -----------------------------------------------------------------------
class Backend:
    """forward(x, w, b, out) and backward(x, w, dy, dx, dw, db) of one implementation."""

    def __init__(self, name: str, stride, padding, threads: int = 1):
        self.name, self.kw = name, dict(stride=stride, padding=padding)
        self.threads = threads
        if name == "torch":
            from convbench.torch import backend as torch_backend
            import torch
            torch.set_num_threads(threads)
            self._fwd, self._bwd = torch_backend.backend_forward, torch_backend.backend_backward
        elif name == "naive":
            self._fwd = kernel.forward_naive
            self._bwd = getattr(kernel, "backward_naive", None)
        else:
            self._fwd, self._bwd = kernel.forward, kernel.backward
        if threads > 1 and name != "torch":
            self.kw["threads"] = threads

    def forward(self, x, w, b, out, **geometry) -> None:
        self._fwd(x, w, b, out=out, **{**self.kw, **geometry})

    def backward(self, x, w, dy, dx, dw, db, **geometry) -> None:
        self._bwd(x, w, dy, dx=dx, dw=dw, db=db, **{**self.kw, **geometry})


def _input_images(spec: dict, wl: Workload, start: int, count: int, out=None) -> np.ndarray:
    """Images [start, start + count) of the batch: synthetic, or from --images DIR."""
    if spec.get("images"):
        from convbench.workload import images
        batch = images.load_batch(spec["images"], start, count, wl.c_in, wl.height, wl.width)
        if out is None:
            return batch
        out[...] = batch
        return out
    return datagen.images(wl.seed, datagen.INPUT, start, count, wl.input_shape()[1:], out=out)


def _input_rows(spec: dict, wl: Workload, row0: int, row1: int, start: int = 0,
                count: int | None = None) -> np.ndarray:
    """Rows [row0, row1) of images [start, start + count) (spatial decomposition)."""
    count = wl.batch - start if count is None else count
    if spec.get("images"):
        return np.ascontiguousarray(_input_images(spec, wl, start, count)[:, :, row0:row1])
    return datagen.rows(wl.seed, datagen.INPUT, start, count, wl.input_shape()[1:], row0, row1)


class _Base:
    """What both decompositions share: MPI, workload, weights, the timed step's skeleton."""

    def __init__(self, comm, spec: dict):
        from mpi4py import MPI
        self.MPI, self.comm, self.spec = MPI, comm, spec
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.root = self.rank == 0
        self.wl = wl = Workload.from_dict(spec["workload"])
        self.pass_, self.data = spec["pass"], spec["data"]
        self.fwd = self.pass_ in ("forward", "train")
        self.bwd = self.pass_ in ("backward", "train")
        self.backend = Backend(spec.get("backend", "convbench"), wl.stride, wl.padding,
                               int(spec.get("threads", 1)))
        self.w, self.b = datagen.weights(wl.seed, wl.weight_shape())
        self.dw = np.zeros(wl.weight_shape(), dtype=np.float32) if self.bwd else None
        self.db = np.zeros(wl.c_out, dtype=np.float32) if self.bwd else None
        self.dw_sum = np.zeros_like(self.dw) if self.bwd else None
        self.db_sum = np.zeros_like(self.db) if self.bwd else None

    def outputs(self) -> list[np.ndarray]:
        return []

    def step(self) -> dict:
        MPI, comm = self.MPI, self.comm
        for a in self.outputs():      # untimed: an image the step skips cannot pass
            a.fill(np.nan)
        t = dict.fromkeys(PHASES, 0.0)
        comm.Barrier()
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
        row = {f"{k}_s": v for k, v in t.items()}
        row["time_s"] = total
        row["comm_s"] = t["scatter"] + t["halo"] + t["gather"] + t["allreduce"]
        row["wait_s"] = max(0.0, total - sum(t.values()))
        return row

    def phases(self):
        raise NotImplementedError

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

    def _check_sample(self, x, y, dy, dx, label: str, **geometry) -> str | None:
        """One image's result against the float64 numpy reference (x: 1 image or slab)."""
        wl = self.wl
        geo = {"stride": wl.stride, "padding": wl.padding, **geometry}
        w64, x64 = self.w.astype(np.float64), x.astype(np.float64)
        if y is not None:
            ref = reference.conv2d_forward(x64, w64, self.b.astype(np.float64), **geo)
            e = rel_err(y, ref)
            if not e <= 1e-4:
                return f"{label}: forward output differs from the reference (relative error {e:.2e})"
        if dy is not None:
            rdx, rdw, rdb = reference.conv2d_backward(x64, w64, dy.astype(np.float64), **geo)
            e = rel_err(dx, rdx)
            if not e <= 1e-4:
                return f"{label}: input gradient differs from the reference (relative error {e:.2e})"
            kdw = np.zeros_like(self.w)
            kdb = np.zeros(self.wl.c_out, dtype=np.float32)
            self.backend.backward(x, self.w, dy, np.zeros_like(x), kdw, kdb, **geometry)
            e = max(rel_err(kdw, rdw), rel_err(kdb, rdb))
            if not e <= 1e-4:
                return f"{label}: weight gradient differs from the reference (relative error {e:.2e})"
        return None


class BatchPoint(_Base):
    """Rank r computes images [start, end) of the batch."""

    def __init__(self, comm, spec: dict):
        super().__init__(comm, spec)
        MPI, wl = self.MPI, self.wl
        self.counts = partition.counts(wl.batch, self.size)
        self.displs = partition.displacements(self.counts)
        self.start, self.n = self.displs[self.rank], self.counts[self.rank]
        self.scatter = self.data == "scatter"
        self.x_t = MPI.FLOAT.Create_contiguous(wl.image_elems).Commit()
        self.y_t = MPI.FLOAT.Create_contiguous(wl.out_image_elems).Commit()
        nan = np.float32("nan")

        # whole-batch buffers on rank 0 (scatter placement only)
        self.x_full = self.dy_full = self.y_full = self.dx_full = None
        if self.scatter and self.root:
            self.x_full = _input_images(spec, wl, 0, wl.batch)
            if self.bwd:
                self.dy_full = datagen.images(wl.seed, datagen.GRAD_OUTPUT, 0, wl.batch,
                                              wl.output_shape()[1:])
            if self.pass_ == "forward":
                self.y_full = np.full(wl.output_shape(), nan, dtype=np.float32)
            if self.pass_ == "backward":
                self.dx_full = np.full(wl.input_shape(), nan, dtype=np.float32)

        n = self.n
        if self.scatter:
            self.x = np.zeros(wl.input_shape(n), dtype=np.float32)
            self.dy = np.zeros(wl.output_shape(n), dtype=np.float32) if self.bwd else None
        else:
            self.x = _input_images(spec, wl, self.start, n)
            self.dy = (datagen.images(wl.seed, datagen.GRAD_OUTPUT, self.start, n,
                                      wl.output_shape()[1:]) if self.bwd else None)
        self.y = np.full(wl.output_shape(n), nan, dtype=np.float32) if self.fwd else None
        self.dx = np.full(wl.input_shape(n), nan, dtype=np.float32) if self.bwd else None

    def outputs(self):
        return [a for a in (self.y, self.dx, self.y_full, self.dx_full) if a is not None]

    def phases(self):
        out = []
        if self.scatter:
            out.append(("scatter", self._scatter))
        out.append(("compute", self._compute))
        if self.scatter and self.pass_ != "train":
            out.append(("gather", self._gather))
        return out

    def _scatter(self) -> None:
        c, d = self.counts, self.displs
        self.comm.Scatterv([self.x_full, c, d, self.x_t] if self.root else None,
                           [self.x, self.n, self.x_t], root=0)
        if self.dy is not None:
            self.comm.Scatterv([self.dy_full, c, d, self.y_t] if self.root else None,
                               [self.dy, self.n, self.y_t], root=0)

    def _gather(self) -> None:
        c, d = self.counts, self.displs
        if self.pass_ == "forward":
            self.comm.Gatherv([self.y, self.n, self.y_t],
                              [self.y_full, c, d, self.y_t] if self.root else None, root=0)
        else:
            self.comm.Gatherv([self.dx, self.n, self.x_t],
                              [self.dx_full, c, d, self.x_t] if self.root else None, root=0)

    def _compute(self) -> None:
        n = self.n
        if n == 0:
            return
        if self.spec.get("_skip"):          # fault injection: the original report's bug
            n = max(1, n // self.size)
        x = self.x[:n]
        if self.fwd:
            self.backend.forward(x, self.w, self.b, self.y[:n])
        if self.bwd:
            self.backend.backward(x, self.w, self.dy[:n], self.dx[:n], self.dw, self.db)

    def samples(self) -> list[str]:
        samples = int(self.spec.get("verify_samples", 2)) if self.spec.get("verify", True) else 0
        if not (self.n and samples):
            return []
        picks = sorted({0, self.n - 1})[:samples]
        errors = []
        for i in picks:
            s = slice(i, i + 1)
            err = self._check_sample(
                self.x[s], self.y[s] if self.fwd else None,
                self.dy[s] if self.bwd else None, self.dx[s] if self.bwd else None,
                f"rank {self.rank}, image {self.start + i}")
            if err:
                errors.append(err)
        return errors

    def row_sums(self) -> list[tuple[int, int, int, int, np.ndarray]]:
        """(first image, end image, first row, end row, sums (images, channels, rows))."""
        wl = self.wl
        if self.scatter and self.pass_ != "train":    # the gathered array checks the gather too
            if not self.root:
                return []
            a = self.y_full if self.pass_ == "forward" else self.dx_full
            return [(0, wl.batch, 0, a.shape[2], a.sum(axis=3, dtype=np.float64))]
        a = self.y if self.fwd else self.dx
        return [(self.start, self.start + self.n, 0, a.shape[2], a.sum(axis=3, dtype=np.float64))]


class SpatialPoint(_Base):
    """Every rank computes a block of output rows of every image (local data only)."""

    def __init__(self, comm, spec: dict):
        super().__init__(comm, spec)
        wl = self.wl
        self.rows = halo.split(wl.height, wl.out_height, wl.kh, wl.stride_h, wl.pad_h, self.size)
        self.mine = r = self.rows[self.rank]
        moves = halo.transfers(self.rows)
        self.recv_moves = [(s, a, b) for s, d, a, b in moves if d == self.rank]
        self.send_moves = [(d, a, b) for s, d, a, b in moves if s == self.rank]
        self.distance = halo.max_distance(moves)
        n, c, w = wl.batch, wl.c_in, wl.width
        self.slab = np.zeros((n, c, r.slab_rows, w), dtype=np.float32)
        # the rows this rank owns live inside its slab where they can (no copy per step)
        self.inside = r.out_rows > 0 and r.slab0 <= r.own0 and r.own1 <= r.slab1
        if self.inside:
            self.x_own = self.slab[:, :, r.own0 - r.slab0:r.own1 - r.slab0]
            self.x_own[...] = _input_rows(spec, wl, r.own0, r.own1)
        else:
            self.x_own = _input_rows(spec, wl, r.own0, r.own1)
        self.y = (np.full((n, wl.c_out, r.out_rows, wl.out_width), np.nan, dtype=np.float32)
                  if self.fwd else None)
        if self.bwd:
            self.dy = datagen.rows(wl.seed, datagen.GRAD_OUTPUT, 0, n, wl.output_shape()[1:],
                                   r.out0, r.out1)
            self.dx_slab = np.zeros_like(self.slab)
            self.dx = (self.dx_slab[:, :, r.own0 - r.slab0:r.own1 - r.slab0] if self.inside
                       else np.full(self.x_own.shape, np.nan, dtype=np.float32))
        else:
            self.dy = self.dx_slab = self.dx = None

    def outputs(self):
        return [a for a in (self.y, self.dx_slab if self.inside else self.dx) if a is not None]

    def phases(self):
        out = [("halo", self._halo), ("compute", self._compute)]
        if self.bwd:
            out.append(("halo", self._halo_back))
        return out

    def _exchange(self, send: dict, recv: dict) -> None:
        """Sendrecv at every distance and direction; send/recv: peer -> contiguous array."""
        MPI = self.MPI
        empty = np.empty(0, dtype=np.float32)
        for d in range(1, self.distance + 1):
            for sign in (1, -1):
                dest, src = self.rank + sign * d, self.rank - sign * d
                sbuf = send.get(dest, empty) if 0 <= dest < self.size else empty
                rbuf = recv.get(src, empty) if 0 <= src < self.size else empty
                self.comm.Sendrecv(sbuf, dest=dest if 0 <= dest < self.size else MPI.PROC_NULL,
                                   recvbuf=rbuf, source=src if 0 <= src < self.size else MPI.PROC_NULL)

    def _halo(self) -> None:
        """Own rows into the slab, then the halo rows from their owners."""
        r = self.mine
        a, b = max(r.own0, r.need0), min(r.own1, r.need1)
        if b > a and not self.inside:
            self.slab[:, :, a - r.slab0:b - r.slab0] = self.x_own[:, :, a - r.own0:b - r.own0]
        send = {d: np.ascontiguousarray(self.x_own[:, :, a - r.own0:b - r.own0])
                for d, a, b in self.send_moves}
        recv = {s: np.empty(self.slab[:, :, a - r.slab0:b - r.slab0].shape, dtype=np.float32)
                for s, a, b in self.recv_moves}
        self._exchange(send, recv)
        for s, a, b in self.recv_moves:
            self.slab[:, :, a - r.slab0:b - r.slab0] = recv[s]

    def _compute(self) -> None:
        r, wl = self.mine, self.wl
        if r.out_rows == 0:
            return
        geo = dict(padding=(0, wl.pad_w))
        if self.fwd:
            self.backend.forward(self.slab, self.w, self.b, self.y, **geo)
        if self.bwd:
            self.backend.backward(self.slab, self.w, self.dy, self.dx_slab, self.dw, self.db, **geo)

    def _halo_back(self) -> None:
        """The input gradient of the halo rows goes back to their owners, who add it."""
        r = self.mine
        if not self.inside:         # else dx is the own rows of dx_slab, already computed
            self.dx.fill(0.0)
            a, b = max(r.own0, r.need0), min(r.own1, r.need1)
            if b > a and r.out_rows:
                self.dx[:, :, a - r.own0:b - r.own0] += self.dx_slab[:, :, a - r.slab0:b - r.slab0]
        send = {s: np.ascontiguousarray(self.dx_slab[:, :, a - r.slab0:b - r.slab0])
                for s, a, b in self.recv_moves}
        recv = {d: np.empty(self.x_own[:, :, a - r.own0:b - r.own0].shape, dtype=np.float32)
                for d, a, b in self.send_moves}
        self._exchange(send, recv)
        for d, a, b in self.send_moves:
            self.dx[:, :, a - r.own0:b - r.own0] += recv[d]

    def samples(self) -> list[str]:
        samples = int(self.spec.get("verify_samples", 2)) if self.spec.get("verify", True) else 0
        r, wl = self.mine, self.wl
        if not (r.out_rows and samples):
            return []
        errors = []
        for i in sorted({0, wl.batch - 1})[:samples]:
            label = f"rank {self.rank}, image {i}, output rows [{r.out0}, {r.out1})"
            # the slab must hold exactly the image's rows, halo included, zeros outside it
            want = np.zeros_like(self.slab[i:i + 1])
            want[:, :, r.need0 - r.slab0:r.need1 - r.slab0] = _input_rows(
                self.spec, wl, r.need0, r.need1, start=i, count=1)
            if not np.array_equal(want, self.slab[i:i + 1]):
                errors.append(f"{label}: the halo rows received differ from the image's rows")
                continue
            s = slice(i, i + 1)
            dx = None
            if self.bwd:    # dx_slab's own rows now hold the halo sums too: recompute this one
                dx = np.zeros_like(self.slab[s])
                self.backend.backward(self.slab[s], self.w, self.dy[s], dx, np.zeros_like(self.w),
                                      np.zeros_like(self.b), padding=(0, wl.pad_w))
            err = self._check_sample(self.slab[s], self.y[s] if self.fwd else None,
                                     self.dy[s] if self.bwd else None, dx, label,
                                     padding=(0, wl.pad_w))
            if err:
                errors.append(err)
        return errors

    def row_sums(self):
        r, wl = self.mine, self.wl
        if self.fwd:
            return [(0, wl.batch, r.out0, r.out1, self.y.sum(axis=3, dtype=np.float64))]
        return [(0, wl.batch, r.own0, r.own1, self.dx.sum(axis=3, dtype=np.float64))]

    def abs_sum(self) -> float:
        """sum |dx| of this rank's rows: the scale of the rounding the halo sums bring."""
        return math.fsum(np.abs(self.dx).sum(axis=3, dtype=np.float64).ravel().tolist())


def verify(point: _Base) -> dict:
    """Gather every rank's checks on rank 0: row coverage, finiteness, checksums, dW."""
    comm, wl = point.comm, point.wl
    errors = point.samples()
    blocks = point.row_sums()
    # the input gradient of halo rows is a sum of two ranks' partial sums: its rounding depends
    # on the split, so it is compared across P with a tolerance scaled by sum |dx|
    exact = not (isinstance(point, SpatialPoint) and point.pass_ == "backward")
    abs_sums = None if exact else comm.gather(point.abs_sum(), root=0)
    dw, db = point.weight_grad()
    all_errors = comm.gather(errors, root=0)
    all_blocks = comm.gather(blocks, root=0)
    if not point.root:
        return {}
    errs = [e for rank_errs in all_errors for e in rank_errs]
    main = point.pass_ in ("forward", "train")
    shape = (wl.batch, wl.c_out, wl.out_height) if main else (wl.batch, wl.c_in, wl.height)
    table = np.full(shape, np.nan)
    cover = np.zeros(shape, dtype=np.int32)
    for i0, i1, r0, r1, sums in (b for rank_blocks in all_blocks for b in rank_blocks):
        table[i0:i1, :, r0:r1] = sums
        cover[i0:i1, :, r0:r1] += 1
    if (cover > 1).any():
        i = int(np.argwhere(cover > 1)[0][0])
        errs.append(f"rows of image {i} were computed by more than one rank")
    bad = np.flatnonzero(~np.isfinite(table).all(axis=(1, 2)))
    if bad.size:
        errs.append(f"{bad.size} of {wl.batch} images have rows with no finite result "
                    f"(never computed?), first: image {int(bad[0])}")
    k = int(point.spec.get("checksum_images") or wl.batch)
    out = {
        "checksum": math.fsum(table.ravel().tolist()) if not bad.size else float("nan"),
        "checksum_ref": math.fsum(table[:k].ravel().tolist()) if not bad.size else float("nan"),
        "verify_errors": errs,
        "checksum_exact": exact,
    }
    if not exact:
        out["checksum_abs"] = math.fsum(abs_sums)
    if dw is not None:
        out["dw_checksum"] = math.fsum(dw.astype(np.float64).ravel().tolist())
        out["db_checksum"] = math.fsum(db.astype(np.float64).ravel().tolist())
        if dw.size <= 4096:
            out["dw"] = dw.ravel().tolist()
            out["db"] = db.ravel().tolist()
    return out


def run(spec: dict, out_path: str) -> None:
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    comm.Barrier()
    ready_at = time.time()        # every rank has Python, its imports and MPI: launch is over
    rss_base = _status_mb("VmRSS")
    setup_t0 = time.perf_counter()
    _maybe_fault(spec, rank, comm.Get_size(), "setup")
    cls = SpatialPoint if spec.get("decomp", "batch") == "spatial" else BatchPoint
    point = cls(comm, spec)
    setup_s = time.perf_counter() - setup_t0

    for _ in range(int(spec.get("warmup", 1))):
        point.step()
    _maybe_fault(spec, rank, comm.Get_size(), "compute")
    rows = [point.step() for _ in range(int(spec["repeats"]))]
    # the peak of the measured run: read before verification's float64 copies can raise it
    rss_peak = _status_mb("VmHWM")
    check = verify(point)

    if isinstance(point, SpatialPoint):
        r = point.mine
        extent = {"start": 0, "end": point.wl.batch, "images": point.wl.batch if r.out_rows else 0,
                  "row_start": r.out0, "row_end": r.out1}
    else:
        extent = {"start": point.start, "end": point.start + point.n, "images": point.n}
    mine = {
        "rank": rank, "host": MPI.Get_processor_name(), **extent,
        "rss_base_mb": rss_base, "rss_peak_mb": rss_peak, "setup_s": setup_s,
        "repeats": rows,
    }
    ranks = comm.gather(mine, root=0)
    if rank != 0:
        return
    wl = point.wl
    errors = list(check.pop("verify_errors"))
    if isinstance(point, BatchPoint):
        cover = partition.check_coverage([(r["start"], r["end"]) for r in ranks], wl.batch)
        if cover:
            errors.insert(0, cover)
        computed = sum(r["images"] for r in ranks)
        if computed != wl.batch:
            errors.insert(0, f"{computed} images were computed, the batch has {wl.batch}")
    else:
        cover = partition.check_coverage([(r["row_start"], r["row_end"]) for r in ranks],
                                         wl.out_height)
        if cover:
            errors.insert(0, "output " + cover.replace("images", "rows"))
    result = {
        "procs": comm.Get_size(), "batch": wl.batch, "ready_at": ready_at,
        "decomp": spec.get("decomp", "batch"), "backend": point.backend.name,
        "output_shape": list(wl.output_shape()),
        "mpi_library": MPI.Get_library_version().strip().splitlines()[0],
        "mpi_version": "%d.%d" % MPI.Get_version(),
        "verified": not errors and spec.get("verify", True),
        "verify_errors": errors,
        "idle_ranks": [r["rank"] for r in ranks if r["images"] == 0],
        "ranks": ranks,
        **check,
    }
    atomic_write(out_path, json.dumps(result))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m convbench.rank.worker SPEC.json OUT.json", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        spec = json.load(f)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
