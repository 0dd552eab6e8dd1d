"""The spatial decomposition: every rank computes a block of output rows of every image.

The input rows its block needs beyond its own (a halo of K - stride rows) come from the next
rank(s) by Sendrecv, and in the backward pass the input gradient of those rows goes back
(halo.py gives the geometry). Data is local: each rank makes its own rows.
"""
from __future__ import annotations

import math

import numpy as np

from convbench.workload import halo
from convbench.rank.backends import input_rows
from convbench.rank.step import Decomposition
from convbench.rank.verify import check_sample
from convbench.results.records import PointSpec
from convbench.workload import datagen, partition


class SpatialPoint(Decomposition):
    """Every rank computes a block of output rows of every image (local data only)."""

    def __init__(self, comm, spec: PointSpec):
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
            self.x_own[...] = input_rows(spec.images, wl, r.own0, r.own1)
        else:
            self.x_own = input_rows(spec.images, wl, r.own0, r.own1)
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

    @property
    def checksum_exact(self) -> bool:
        """The input gradient of halo rows is a sum of two ranks' partial sums: its rounding
        depends on the split, so it is compared across P with a tolerance."""
        return self.pass_ != "backward"

    def extent(self) -> dict:
        """This rank's share for its RankReport: every image, a block of output rows."""
        r, wl = self.mine, self.wl
        return {"start": 0, "end": wl.batch, "images": wl.batch if r.out_rows else 0,
                "row_start": r.out0, "row_end": r.out1}

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
        samples = self.n_samples
        r, wl = self.mine, self.wl
        if not (r.out_rows and samples):
            return []
        errors = []
        for i in sorted({0, wl.batch - 1})[:samples]:
            label = f"rank {self.rank}, image {i}, output rows [{r.out0}, {r.out1})"
            # the slab must hold exactly the image's rows, halo included, zeros outside it
            want = np.zeros_like(self.slab[i:i + 1])
            want[:, :, r.need0 - r.slab0:r.need1 - r.slab0] = input_rows(
                self.spec.images, wl, r.need0, r.need1, start=i, count=1)
            if not np.array_equal(want, self.slab[i:i + 1]):
                errors.append(f"{label}: the halo rows received differ from the image's rows")
                continue
            s = slice(i, i + 1)
            dx = None
            if self.bwd:    # dx_slab's own rows now hold the halo sums too: recompute this one
                dx = np.zeros_like(self.slab[s])
                self.backend.backward(self.slab[s], self.w, self.dy[s], dx, np.zeros_like(self.w),
                                      np.zeros_like(self.b), padding=(0, wl.pad_w))
            err = check_sample(self, self.slab[s], self.y[s] if self.fwd else None,
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

    def coverage_errors(self, ranks: list) -> list[str]:
        """On rank 0, from every rank's report: each output row computed exactly once."""
        cover = partition.check_coverage([(r.row_start, r.row_end) for r in ranks],
                                         self.wl.out_height)
        return ["output " + cover.replace("images", "rows")] if cover else []
