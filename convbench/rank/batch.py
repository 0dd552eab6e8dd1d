"""The batch decomposition: rank r computes images [start, end) of the batch (partition.py).

With ``scatter`` data rank 0 holds the whole batch and scatters the shares (and gathers the
outputs, or the input gradients); with ``local`` data every rank makes its own share.
"""
from __future__ import annotations

import numpy as np

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
        nan = np.float32("nan")

        # whole-batch buffers on rank 0 (scatter placement only)
        self.x_full = self.dy_full = self.y_full = self.dx_full = None
        if self.scatter and self.root:
            self.x_full = input_images(spec.images, wl, 0, wl.batch)
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
            self.x = input_images(spec.images, wl, self.start, n)
            self.dy = (datagen.images(wl.seed, datagen.GRAD_OUTPUT, self.start, n,
                                      wl.output_shape()[1:]) if self.bwd else None)
        self.y = np.full(wl.output_shape(n), nan, dtype=np.float32) if self.fwd else None
        self.dx = np.full(wl.input_shape(n), nan, dtype=np.float32) if self.bwd else None

    def extent(self) -> dict:
        """This rank's share for its RankReport."""
        return {"start": self.start, "end": self.start + self.n, "images": self.n}

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
            return [(0, wl.batch, 0, a.shape[2], a.sum(axis=3, dtype=np.float64))]
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
