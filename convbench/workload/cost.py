"""The cost model of a workload: what one step costs in arithmetic and in bytes, and the bound
the machine's roofline puts on its time. Every FLOP and byte count of convbench is defined here,
once; the memory check, GB/s, the roofline, the scaling model and the kernel benchmark read it.

For a workload (its batch is the whole batch of the step), a pass, a data placement, a
decomposition and P ranks (:func:`cost` gathers them all in a :class:`Cost`):

- :func:`flops`: multiply and add counted separately; backward = 2 x forward (dX and dW),
  train = forward + backward.
- :func:`read_bytes`, :func:`write_bytes`: the kernel's compulsory traffic, each array read or
  written once: forward reads x and W and writes y; backward reads x, dY and W and writes dX
  and dW; train is both. (The bias, c_out floats, is left out.)
- :func:`scatter_bytes`, :func:`gather_bytes`: what rank 0 sends in the Scatterv of x (and dY)
  and receives in the Gatherv of y (forward) or dX (backward), with ``--data scatter`` and the
  batch decomposition: the other ranks' shards (rank 0's own shard does not travel). A train
  pass gathers nothing.
- :func:`allreduce_bytes`: a train pass's Allreduce of dW and db, as each rank of a ring sends
  it: 2 (P - 1) / P of the gradient.
- :func:`halo_bytes`: the spatial decomposition's Sendrecv of input rows, summed over all
  ranks (halo.transfers); backward and train send the input gradient of the same rows back.
- :func:`held_bytes`: the workload buffers each rank holds at its peak, as the worker
  (convbench.rank.worker) allocates them; MPI's, Python's and numpy's own memory is not
  counted.

Stdlib only: the ranks may import it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from convbench.workload import halo
from convbench.workload.partition import counts

if TYPE_CHECKING:  # pragma: no cover
    from convbench.workload.spec import Workload

FLOAT_BYTES = 4
#: what a rank holds besides its workload buffers: Python, numpy, mpi4py and MPI (rss_base_mb,
#: 44-47 MiB with MPICH here) and what making data and the kernel's scratch add (7-9 MiB),
#: rounded up; the memory check before launch adds it to held_bytes for every rank
RANK_BASE_BYTES = 64 * 2**20


# ---- the kernel -----------------------------------------------------------------------------
def flops(wl: "Workload", pass_: str, n: int | None = None) -> int:
    """Floating-point operations of the pass on n images (default: the batch)."""
    n = wl.batch if n is None else n
    fwd = 2 * n * wl.out_image_elems * wl.c_in * wl.kh * wl.kw
    return {"forward": fwd, "backward": 2 * fwd, "train": 3 * fwd}[pass_]


def _traffic(wl: "Workload", pass_: str, n: int | None) -> tuple[int, int]:
    """(elements read, elements written) by the pass on n images."""
    n = wl.batch if n is None else n
    x, y, w = n * wl.image_elems, n * wl.out_image_elems, wl.weight_elems
    fwd = (x + w, y)                    # read x, W; write y
    bwd = (x + y + w, x + w)            # read x, dY, W; write dX, dW
    return {"forward": fwd, "backward": bwd,
            "train": (fwd[0] + bwd[0], fwd[1] + bwd[1])}[pass_]


def read_bytes(wl: "Workload", pass_: str, n: int | None = None) -> int:
    return FLOAT_BYTES * _traffic(wl, pass_, n)[0]


def write_bytes(wl: "Workload", pass_: str, n: int | None = None) -> int:
    return FLOAT_BYTES * _traffic(wl, pass_, n)[1]


def kernel_bytes(wl: "Workload", pass_: str, n: int | None = None) -> int:
    """The pass's compulsory memory traffic: bytes read + bytes written."""
    return read_bytes(wl, pass_, n) + write_bytes(wl, pass_, n)


# ---- communication --------------------------------------------------------------------------
def _sent_images(wl: "Workload", data: str, decomp: str, procs: int) -> int:
    """Images rank 0 scatters to (and gathers from) the other ranks: all but its own shard."""
    if data != "scatter" or decomp != "batch":
        return 0
    return wl.batch - counts(wl.batch, procs)[0]


def scatter_bytes(wl: "Workload", pass_: str, data: str, decomp: str, procs: int) -> int:
    per_image = wl.image_elems + (wl.out_image_elems if pass_ != "forward" else 0)  # x (+ dY)
    return FLOAT_BYTES * _sent_images(wl, data, decomp, procs) * per_image


def gather_bytes(wl: "Workload", pass_: str, data: str, decomp: str, procs: int) -> int:
    per_image = {"forward": wl.out_image_elems, "backward": wl.image_elems, "train": 0}[pass_]
    return FLOAT_BYTES * _sent_images(wl, data, decomp, procs) * per_image


def allreduce_bytes(wl: "Workload", pass_: str, procs: int) -> float:
    if pass_ != "train":
        return 0.0
    return 2.0 * (procs - 1) / procs * (wl.weight_elems + wl.c_out) * FLOAT_BYTES


def _rows(wl: "Workload", procs: int) -> list[halo.Rows]:
    return halo.split(wl.height, wl.out_height, wl.kh, wl.stride_h, wl.pad_h, procs)


def halo_rows(wl: "Workload", procs: int) -> int:
    """Input rows (of one channel of one image) the spatial decomposition's ranks receive."""
    return sum(b - a for _, _, a, b in halo.transfers(_rows(wl, procs)))


def halo_bytes(wl: "Workload", pass_: str, decomp: str, procs: int) -> int:
    if decomp != "spatial":
        return 0
    both_ways = 1 if pass_ == "forward" else 2      # dX of the halo rows goes back
    return FLOAT_BYTES * both_ways * halo_rows(wl, procs) * wl.batch * wl.c_in * wl.width


# ---- memory ---------------------------------------------------------------------------------
def _weights(wl: "Workload", pass_: str) -> int:
    """W and b on every rank; with a backward, dW and db and their Allreduce sums too."""
    g = wl.weight_elems + wl.c_out
    return g * (1 if pass_ == "forward" else 3)


def _batch_held(wl: "Workload", pass_: str, data: str, procs: int) -> list[int]:
    x, y = wl.image_elems, wl.out_image_elems
    # a shard: x, y (forward); x, dY, dX (backward); x, dY, y, dX (train)
    shard = {"forward": x + y, "backward": x + y + x, "train": x + y + y + x}[pass_]
    n = counts(wl.batch, procs)
    held = [k * shard for k in n]
    if data == "scatter":
        # rank 0 holds the whole batch of x (and dY) it scatters and of y or dX it gathers;
        # its own shard of those is the first images of them (MPI_IN_PLACE), not a copy
        full = {"forward": x + y, "backward": x + y + x, "train": x + y}[pass_]
        held[0] = wl.batch * full + n[0] * (shard - full)
    return held


def _spatial_held(wl: "Workload", pass_: str, procs: int) -> list[int]:
    held = []
    bwd = pass_ != "forward"
    per_row = wl.batch * wl.c_in * wl.width                 # one input row of every image
    per_out_row = wl.batch * wl.c_out * wl.out_width        # one output row of every image
    for r in _rows(wl, procs):
        own = (r.own1 - r.own0) * per_row
        slab = r.slab_rows * per_row
        inside = r.out_rows > 0 and r.slab0 <= r.own0 and r.own1 <= r.slab1
        # the slab; own rows of their own when they do not lie inside it; y or dY (+ both)
        outputs = r.out_rows * per_out_row * (2 if pass_ == "train" else 1)
        steady = slab + (0 if inside else own) + outputs
        if bwd:
            steady += slab + (0 if inside else own)         # dX's slab, dX's own rows
        # set-up: a rank whose own rows live in its slab makes them apart first, then copies
        # them in (the slab's other rows are not touched yet: its pages are not resident)
        held.append(max(steady, 2 * own) if inside else steady)
    return held


def held_elems(wl: "Workload", pass_: str, data: str, decomp: str, procs: int) -> list[int]:
    """Elements of workload buffers each rank holds at its peak (rank 0 first)."""
    per = (_spatial_held(wl, pass_, procs) if decomp == "spatial"
           else _batch_held(wl, pass_, data, procs))
    return [e + _weights(wl, pass_) for e in per]


def held_bytes(wl: "Workload", pass_: str, data: str, decomp: str, procs: int) -> list[int]:
    """Bytes of workload buffers each rank holds at its peak (rank 0 first)."""
    return [FLOAT_BYTES * e for e in held_elems(wl, pass_, data, decomp, procs)]


# ---- all of it --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cost:
    """What one step of a point costs: the workload's batch is the whole batch of the step."""

    flops: int
    read_bytes: int          # the kernel's compulsory reads, over the whole batch
    write_bytes: int         # ... and writes
    scatter_bytes: int       # rank 0 -> the others (scatter data)
    gather_bytes: int        # the others -> rank 0 (scatter data, forward or backward)
    allreduce_bytes: float   # dW and db, per rank of a ring (train)
    halo_bytes: int          # rows exchanged between ranks (spatial), all ranks together
    held_bytes: tuple        # workload bytes each rank holds at its peak, rank 0 first

    @property
    def kernel_bytes(self) -> int:
        return self.read_bytes + self.write_bytes

    @property
    def comm_bytes(self) -> float:
        """The communication volume of the scaling model's c(P) = latency + bytes / bandwidth."""
        return self.scatter_bytes + self.gather_bytes + self.allreduce_bytes + self.halo_bytes

    @property
    def rank0_bytes(self) -> int:
        return self.held_bytes[0]

    @property
    def other_rank_bytes(self) -> int:
        """The most any rank but rank 0 holds (0 with one rank)."""
        return max(self.held_bytes[1:], default=0)

    @property
    def total_held_bytes(self) -> int:
        return sum(self.held_bytes)


def cost(wl: "Workload", pass_: str, data: str = "local", decomp: str = "batch",
         procs: int = 1) -> Cost:
    """The cost of one step of `pass_` on wl's batch over `procs` ranks."""
    if procs < 1:
        raise ValueError(f"procs must be >= 1, got {procs}")
    return Cost(
        flops=flops(wl, pass_), read_bytes=read_bytes(wl, pass_),
        write_bytes=write_bytes(wl, pass_),
        scatter_bytes=scatter_bytes(wl, pass_, data, decomp, procs),
        gather_bytes=gather_bytes(wl, pass_, data, decomp, procs),
        allreduce_bytes=allreduce_bytes(wl, pass_, procs),
        halo_bytes=halo_bytes(wl, pass_, decomp, procs),
        held_bytes=tuple(held_bytes(wl, pass_, data, decomp, procs)),
    )


# ---- the roofline ---------------------------------------------------------------------------
def roofline_bound(flops: float, nbytes: float, roof: dict, cores: int = 1) -> float:
    """The roofline bound of a computation on `cores` cores: max(FLOPs / peak, bytes /
    bandwidth), peak = cores x the single-core peak (at most the machine's cores), bandwidth
    measured with that many cores. `roof` is convbench.kernel.roofline.roofline()'s record."""
    usable = min(max(1, cores), int(roof.get("cores") or cores))
    return max(flops / (float(roof["peak_gflops_1core"]) * 1e9 * usable),
               nbytes / (bandwidth(roof, cores) * 1e9))


def bandwidth(roof: dict, cores: int) -> float:
    """GB/s measured with `cores` cores (the largest measured count if more)."""
    bw = {int(k): float(v) for k, v in roof["bandwidth_gbs_by_cores"].items()}
    return bw[min(max(1, cores), max(bw))]
