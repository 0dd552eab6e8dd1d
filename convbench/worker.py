"""The program every MPI rank runs for one point: ``python -m convbench.worker SPEC OUT``.

SPEC is a JSON file (written by the sweep) with the workload, pass, data placement, repeats,
warm-up and verification settings. Each rank makes or receives its shard of the batch, runs the
warm-up and the timed repeats, verifies, and rank 0 writes OUT (JSON, atomically).

One repeat, timed on every rank with MPI.Wtime, a barrier before each phase so a phase's time
is that rank's own work and waiting shows up separately as ``wait_s``:

    barrier | scatter | barrier | compute | barrier | gather | barrier | allreduce | barrier

``time_s`` is the whole step on that rank; the figure of a repeat is its maximum over ranks.
Imports only the kernel, the reference, the workload, the partition and the data generator.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time

import numpy as np

from . import datagen, kernel, partition, reference
from .workload import Workload

PHASES = ("scatter", "compute", "gather", "allreduce")


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
    elif kind == "skip":        # reproduce the original bug: compute only part of the shard
        spec["_skip"] = True


class Point:
    """The buffers and the step of one rank for one point."""

    def __init__(self, comm, spec: dict):
        from mpi4py import MPI
        self.MPI, self.comm, self.spec = MPI, comm, spec
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.wl = wl = Workload.from_dict(spec["workload"])
        self.pass_, self.data = spec["pass"], spec["data"]
        self.counts = partition.counts(wl.batch, self.size)
        self.displs = partition.displacements(self.counts)
        self.start, self.n = self.displs[self.rank], self.counts[self.rank]
        self.root = self.rank == 0
        self.scatter = self.data == "scatter"
        self.kw = dict(stride=wl.stride, padding=wl.padding)

        self.w, self.b = datagen.weights(wl.seed, wl.weight_shape())
        self.x_t = MPI.FLOAT.Create_contiguous(wl.image_elems).Commit()
        self.y_t = MPI.FLOAT.Create_contiguous(wl.out_image_elems).Commit()
        fwd = self.pass_ in ("forward", "train")
        bwd = self.pass_ in ("backward", "train")
        nan = np.float32("nan")

        # whole-batch buffers on rank 0 (scatter placement only)
        self.x_full = self.dy_full = self.y_full = self.dx_full = None
        if self.scatter and self.root:
            self.x_full = datagen.images(wl.seed, datagen.INPUT, 0, wl.batch, wl.input_shape()[1:])
            if bwd:
                self.dy_full = datagen.images(wl.seed, datagen.GRAD_OUTPUT, 0, wl.batch,
                                              wl.output_shape()[1:])
            if self.pass_ == "forward":
                self.y_full = np.full(wl.output_shape(), nan, dtype=np.float32)
            if self.pass_ == "backward":
                self.dx_full = np.full(wl.input_shape(), nan, dtype=np.float32)

        # this rank's shard; outputs start as NaN so an image never computed cannot pass
        n = self.n
        if self.scatter:
            self.x = np.zeros(wl.input_shape(n), dtype=np.float32)
            self.dy = np.zeros(wl.output_shape(n), dtype=np.float32) if bwd else None
        else:
            self.x = datagen.images(wl.seed, datagen.INPUT, self.start, n, wl.input_shape()[1:])
            self.dy = (datagen.images(wl.seed, datagen.GRAD_OUTPUT, self.start, n,
                                      wl.output_shape()[1:]) if bwd else None)
        self.y = np.full(wl.output_shape(n), nan, dtype=np.float32) if fwd else None
        self.dx = np.full(wl.input_shape(n), nan, dtype=np.float32) if bwd else None
        self.dw = np.zeros(wl.weight_shape(), dtype=np.float32) if bwd else None
        self.db = np.zeros(wl.c_out, dtype=np.float32) if bwd else None
        self.dw_sum = np.zeros_like(self.dw) if bwd else None
        self.db_sum = np.zeros_like(self.db) if bwd else None

    def invalidate(self) -> None:
        """NaN into every output before a step (untimed), so an image the step does not
        compute cannot pass verification with a value left from an earlier step."""
        for a in (self.y, self.dx, self.y_full, self.dx_full):
            if a is not None:
                a.fill(np.nan)

    # ---- one timed step ----------------------------------------------------------------
    def step(self) -> dict:
        MPI, comm = self.MPI, self.comm
        self.invalidate()
        t = dict.fromkeys(PHASES, 0.0)
        comm.Barrier()
        t0 = MPI.Wtime()
        if self.scatter:
            a = MPI.Wtime()
            self._scatter()
            t["scatter"] = MPI.Wtime() - a
            comm.Barrier()
        a = MPI.Wtime()
        self._compute()
        t["compute"] = MPI.Wtime() - a
        comm.Barrier()
        if self.scatter and self.pass_ != "train":
            a = MPI.Wtime()
            self._gather()
            t["gather"] = MPI.Wtime() - a
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
        row["comm_s"] = t["scatter"] + t["gather"] + t["allreduce"]
        row["wait_s"] = max(0.0, total - sum(t.values()))
        return row

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
        if self.pass_ in ("forward", "train"):
            kernel.forward(x, self.w, self.b, out=self.y[:n], **self.kw)
        if self.pass_ in ("backward", "train"):
            kernel.backward(x, self.w, self.dy[:n], dx=self.dx[:n], dw=self.dw, db=self.db,
                            **self.kw)

    # ---- verification, after the timed repeats -------------------------------------------
    def verify(self) -> dict:
        """Coverage, sample images against the reference, per-image checksums."""
        MPI, comm, wl = self.MPI, self.comm, self.wl
        errors: list[str] = []
        samples = int(self.spec.get("verify_samples", 2)) if self.spec.get("verify", True) else 0
        if self.n and samples:
            picks = sorted({0, self.n - 1}) if samples >= 2 else [0]
            picks += [i for i in range(1, self.n - 1)][: max(0, samples - 2)]
            for i in picks:
                err = self._check_image(i)
                if err:
                    errors.append(f"rank {self.rank}, image {self.start + i}: {err}")

        # per-image checksums: of the gathered array on rank 0 where there is one (that checks
        # the gather too), else of each rank's shard, sent to rank 0 in image order
        main_full = self.y_full if self.pass_ == "forward" else self.dx_full
        main_local = self.y if self.pass_ in ("forward", "train") else self.dx
        sums = None
        if self.scatter and self.pass_ != "train":      # the same branch on every rank
            if self.root:
                sums = main_full.reshape(wl.batch, -1).sum(axis=1, dtype=np.float64)
        else:
            local = main_local.reshape(self.n, -1).sum(axis=1, dtype=np.float64)
            sums = np.empty(wl.batch, dtype=np.float64) if self.root else None
            comm.Gatherv(local, [sums, self.counts, self.displs, MPI.DOUBLE] if self.root else None,
                         root=0)

        # the whole-batch weight gradient (summed over ranks; for train it already is)
        dw = db = None
        if self.dw is not None:
            if self.pass_ == "train":
                dw, db = self.dw_sum, self.db_sum
            else:
                dw, db = np.zeros_like(self.dw), np.zeros_like(self.db)
                comm.Reduce(self.dw, dw, op=MPI.SUM, root=0)
                comm.Reduce(self.db, db, op=MPI.SUM, root=0)

        all_errors = comm.gather(errors, root=0)
        out = {}
        if self.root:
            errs = [e for rank_errs in all_errors for e in rank_errs]
            bad = np.flatnonzero(~np.isfinite(sums))
            if bad.size:
                errs.append(f"{bad.size} of {wl.batch} images have no finite result "
                            f"(never computed?), first: image {int(bad[0])}")
            k = int(self.spec.get("checksum_images") or wl.batch)
            out["checksum"] = math.fsum(sums.tolist()) if not bad.size else float("nan")
            out["checksum_ref"] = math.fsum(sums[:k].tolist()) if not bad.size else float("nan")
            if dw is not None:
                out["dw_checksum"] = math.fsum(dw.astype(np.float64).ravel().tolist())
                out["db_checksum"] = math.fsum(db.astype(np.float64).ravel().tolist())
                if dw.size <= 4096:
                    out["dw"] = dw.ravel().tolist()
                    out["db"] = db.ravel().tolist()
            out["verify_errors"] = errs
        return out

    def _check_image(self, i: int) -> str | None:
        wl = self.wl
        x = self.x[i:i + 1].astype(np.float64)
        if self.pass_ in ("forward", "train"):
            ref = reference.conv2d_forward(x, self.w.astype(np.float64), self.b.astype(np.float64),
                                           stride=wl.stride, padding=wl.padding)
            e = _rel_err(self.y[i:i + 1], ref)
            if not e <= 1e-4:
                return f"forward output differs from the reference (relative error {e:.2e})"
        if self.pass_ in ("backward", "train"):
            dy = self.dy[i:i + 1]
            rdx, rdw, rdb = reference.conv2d_backward(x, self.w.astype(np.float64),
                                                      dy.astype(np.float64),
                                                      stride=wl.stride, padding=wl.padding)
            e = _rel_err(self.dx[i:i + 1], rdx)
            if not e <= 1e-4:
                return f"input gradient differs from the reference (relative error {e:.2e})"
            _, kdw, kdb = kernel.backward(self.x[i:i + 1], self.w, dy, **self.kw)
            e = max(_rel_err(kdw, rdw), _rel_err(kdb, rdb))
            if not e <= 1e-4:
                return f"weight gradient differs from the reference (relative error {e:.2e})"
        return None


def _rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    """max |got - ref| / max |ref| (NaN-propagating, so a NaN result fails)."""
    ref = np.asarray(ref, dtype=np.float64)
    scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, 1e-30)
    diff = np.abs(np.asarray(got, dtype=np.float64) - ref)
    return float(np.max(diff)) / scale if diff.size else 0.0


def run(spec: dict, out_path: str) -> None:
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    comm.Barrier()
    ready_at = time.time()        # every rank has Python, its imports and MPI: launch is over
    rss_base = _status_mb("VmRSS")
    setup_t0 = time.perf_counter()
    _maybe_fault(spec, rank, comm.Get_size(), "setup")
    point = Point(comm, spec)
    setup_s = time.perf_counter() - setup_t0

    for _ in range(int(spec.get("warmup", 1))):
        point.step()
    _maybe_fault(spec, rank, comm.Get_size(), "compute")
    rows = [point.step() for _ in range(int(spec["repeats"]))]
    check = point.verify()

    mine = {
        "rank": rank, "host": MPI.Get_processor_name(),
        "start": point.start, "end": point.start + point.n, "images": point.n,
        "rss_base_mb": rss_base, "rss_peak_mb": _status_mb("VmHWM"), "setup_s": setup_s,
        "repeats": rows,
    }
    ranks = comm.gather(mine, root=0)
    if rank != 0:
        return
    wl = point.wl
    errors = list(check.pop("verify_errors"))
    cover = partition.check_coverage([(r["start"], r["end"]) for r in ranks], wl.batch)
    if cover:
        errors.insert(0, cover)
    computed = sum(r["images"] for r in ranks)
    if computed != wl.batch:
        errors.insert(0, f"{computed} images were computed, the batch has {wl.batch}")
    result = {
        "procs": comm.Get_size(), "batch": wl.batch, "ready_at": ready_at,
        "output_shape": list(wl.output_shape()),
        "mpi_library": MPI.Get_library_version().strip().splitlines()[0],
        "mpi_version": "%d.%d" % MPI.Get_version(),
        "verified": not errors and spec.get("verify", True),
        "verify_errors": errors,
        "idle_ranks": [r["rank"] for r in ranks if r["images"] == 0],
        "ranks": ranks,
        **check,
    }
    tmp = f"{out_path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out_path)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m convbench.worker SPEC.json OUT.json", file=sys.stderr)
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
        print(f"convbench.worker: rank {MPI.COMM_WORLD.Get_rank()} failed: "
              f"{type(e).__name__}: {e}", file=sys.stderr, flush=True)
        MPI.COMM_WORLD.Abort(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
