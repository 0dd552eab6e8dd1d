"""Spatial decomposition geometry: each rank computes a block of output rows of every image.

Rank r computes output rows [o0, o1) (the output height split like a batch: remainders spread
over the first ranks). It owns the input rows [a_r, a_{r+1}) that start its receptive field,
a_r = clamp(o0 * stride - pad, 0, H) (a_0 = 0, a_P = H), and needs the input rows
[a_r, min((o1 - 1) * stride - pad + K, H)): its own plus a halo of K - stride rows that the
next rank(s) own. The halo is exchanged with Sendrecv, one distance at a time (distance 1 is
the neighbour; blocks smaller than the halo need ranks further on).

Row indices here are input rows of the unpadded image. A rank's "slab" is the padded row range
[o0 * stride - pad, (o1 - 1) * stride - pad + K): the kernel runs on it with no height padding,
and the rows outside [0, H) are zeros. Pure functions: no MPI, no numpy.
"""
from __future__ import annotations

from dataclasses import dataclass

from convbench.workload.partition import counts, displacements


@dataclass(frozen=True)
class Rows:
    """The rows of one rank."""

    out0: int          # first output row
    out1: int          # one past the last output row
    own0: int          # first owned input row
    own1: int          # one past the last owned input row
    slab0: int         # first padded-slab row, in input coordinates (may be < 0)
    slab1: int         # one past the last slab row (may be > H)
    need0: int         # first needed input row (= own0 when the rank has output rows)
    need1: int         # one past the last needed input row

    @property
    def out_rows(self) -> int:
        return self.out1 - self.out0

    @property
    def slab_rows(self) -> int:
        return self.slab1 - self.slab0


def split(h: int, oh: int, kh: int, stride: int, pad: int, procs: int) -> list[Rows]:
    """The rows of every rank for an image of h input and oh output rows."""
    c = counts(oh, procs)
    d = displacements(c)
    starts = [0] + [min(max(d[r] * stride - pad, 0), h) for r in range(1, procs)] + [h]
    # a rank with no output rows owns nothing; keep the starts monotonic
    for r in range(1, procs + 1):
        starts[r] = max(starts[r], starts[r - 1])
    out = []
    for r in range(procs):
        o0, o1 = d[r], d[r] + c[r]
        if o1 > o0:
            s0, s1 = o0 * stride - pad, (o1 - 1) * stride - pad + kh
            n0, n1 = max(s0, 0), min(s1, h)
        else:
            s0 = s1 = n0 = n1 = starts[r]
        out.append(Rows(o0, o1, starts[r], starts[r + 1], s0, s1, n0, n1))
    return out


def transfers(rows: list[Rows]) -> list[tuple[int, int, int, int]]:
    """(sender, receiver, first row, end row): the input rows each rank needs from others."""
    moves = []
    for r, mine in enumerate(rows):
        for q, other in enumerate(rows):
            if q == r:
                continue
            a, b = max(mine.need0, other.own0), min(mine.need1, other.own1)
            if b > a:
                moves.append((q, r, a, b))
    return moves


def max_distance(moves: list[tuple[int, int, int, int]]) -> int:
    """How far (in ranks) the farthest halo travels; 0 when there is no halo."""
    return max((abs(s - r) for s, r, _, _ in moves), default=0)
