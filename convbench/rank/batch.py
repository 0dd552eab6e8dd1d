"""The batch decomposition: rank r computes images [start, end) of the batch (partition.py).

With ``scatter`` data rank 0 holds the whole batch and scatters the shares (and gathers the
outputs, or the input gradients); with ``local`` data every rank makes its own share.
"""
from __future__ import annotations

import numpy as np

from convbench.rank import setup
from convbench.rank.backends import input_images
from convbench.rank.step import Decomposition
from convbench.rank.verify import check_sample
from convbench.results.records import PointSpec
from convbench.workload import datagen, partition


class BatchPoint(Decomposition):
    """Rank r computes images [start, end) of the batch."""

    def __init__(self, comm, spec: PointSpec):
        super().__init__(comm, spec)
        MPI, wl = self.MPI, self.wl
        self.counts = partition.counts(wl.batch, self.size)
        self.displs = partition.displacements(self.counts)
        self.start, self.n = self.displs[self.rank], self.counts[self.rank]
        self.scatter = self.data == "scatter"
        self.x_t = MPI.FLOAT.Create_contiguous(wl.image_elems).Commit()
        self.y_t = MPI.FLOAT.Create_contiguous(wl.out_image_elems).Commit()
        self.threads = threads = setup.data_threads(comm, 1 if self.scatter else self.size)

        # whole-batch buffers on rank 0 (scatter placement only); rank 0's own shard is the
        # first `n` images of them (MPI_IN_PLACE at the root), so it holds no other copy.
        # Every buffer is written here, in the set-up (each step fills the outputs with NaN
        # again before it runs).
        self.x_full = self.dy_full = self.y_full = self.dx_full = None
        if self.scatter and self.root:
            self.x_full = input_images(spec.images, wl, 0, wl.batch, threads=threads)
            if self.bwd:
                self.dy_full = datagen.images(wl.seed, datagen.GRAD_OUTPUT, 0, wl.batch,
                                              wl.output_shape()[1:], threads=threads)
            if self.pass_ == "forward":
                self.y_full = setup.filled(wl.output_shape(), np.nan, threads)
            if self.pass_ == "backward":
                self.dx_full = setup.filled(wl.input_shape(), np.nan, threads)

        n = self.n
        if self.scatter and self.root:
            self.x = self.x_full[:n]
            self.dy = self.dy_full[:n] if self.bwd else None
        elif self.scatter:      # written now, while rank 0 makes the batch
            self.x = setup.filled(wl.input_shape(n), 0.0)
            self.dy = setup.filled(wl.output_shape(n), 0.0) if self.bwd else None
        else:
            self.x = input_images(spec.images, wl, self.start, n, threads=threads)
            self.dy = (datagen.images(wl.seed, datagen.GRAD_OUTPUT, self.start, n,
                                      wl.output_shape()[1:], threads=threads)
                       if self.bwd else None)
        self.y = self._shard(self.y_full, wl.output_shape(n)) if self.fwd else None
        self.dx = self._shard(self.dx_full, wl.input_shape(n)) if self.bwd else None

    def _shard(self, full, shape) -> np.ndarray:
        """This rank's output: its place in the whole-batch array on rank 0, else its own."""
        if full is not None:
            return full[:self.n]
        return np.full(shape, np.nan, dtype=np.float32)

    def extent(self) -> dict:
        """This rank's share for its RankReport."""
        return {"start": self.start, "end": self.start + self.n, "images": self.n}

    def outputs(self):
        """The arrays a step writes, each once (rank 0's shard lies inside the whole batch)."""
        full = [a for a in (self.y_full, self.dx_full) if a is not None]
        own = [a for a, f in ((self.y, self.y_full), (self.dx, self.dx_full))
               if a is not None and f is None]
        return full + own

    def phases(self):
        out = []
        if self.scatter:
            out.append(("scatter", self._scatter))
        out.append(("compute", self._compute))
        if self.scatter and self.pass_ != "train":
            out.append(("gather", self._gather))
        return out

    def _scatter(self) -> None:
        """x (and dY) from rank 0; its own shard stays where it is (MPI_IN_PLACE)."""
        c, d, IN_PLACE = self.counts, self.displs, self.MPI.IN_PLACE
        pairs = [(self.x_full, self.x, self.x_t)]
        if self.dy is not None:
            pairs.append((self.dy_full, self.dy, self.y_t))
        for full, mine, t in pairs:
            if self.root:
                self.comm.Scatterv([full, c, d, t], IN_PLACE, root=0)
            else:
                self.comm.Scatterv(None, [mine, self.n, t], root=0)

    def _gather(self) -> None:
        """y (forward) or dX (backward) to rank 0, whose own shard is in place already."""
        c, d = self.counts, self.displs
        full, mine, t = ((self.y_full, self.y, self.y_t) if self.pass_ == "forward"
                         else (self.dx_full, self.dx, self.x_t))
        if self.root:
            self.comm.Gatherv(self.MPI.IN_PLACE, [full, c, d, t], root=0)
        else:
            self.comm.Gatherv([mine, self.n, t], None, root=0)

    def _compute(self) -> None:
        n = self.n
        if n == 0:
            return
        if self.skip:          # fault injection: the original report's bug
            n = max(1, n // self.size)
        x = self.x[:n]
        if self.fwd:
            self.backend.forward(x, self.w, self.b, self.y[:n])
        if self.bwd:
            self.backend.backward(x, self.w, self.dy[:n], self.dx[:n], self.dw, self.db)

    def samples(self) -> list[str]:
        samples = self.n_samples
        if not (self.n and samples):
            return []
        picks = sorted({0, self.n - 1})[:samples]
        errors = []
        for i in picks:
            s = slice(i, i + 1)
            err = check_sample(
                self, self.x[s], self.y[s] if self.fwd else None,
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
            return [(0, wl.batch, 0, a.shape[2], setup.row_sums(a, self.threads))]
        a = self.y if self.fwd else self.dx
        return [(self.start, self.start + self.n, 0, a.shape[2], a.sum(axis=3, dtype=np.float64))]

    def coverage_errors(self, ranks: list) -> list[str]:
        """On rank 0, from every rank's report: each image computed exactly once."""
        wl, errors = self.wl, []
        cover = partition.check_coverage([(r.start, r.end) for r in ranks], wl.batch)
        if cover:
            errors.append(cover)
        computed = sum(r.images for r in ranks)
        if computed != wl.batch:
            errors.insert(0, f"{computed} images were computed, the batch has {wl.batch}")
        return errors
