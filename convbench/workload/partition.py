"""Split a batch of images over P ranks: contiguous ranges, remainders spread one each over
the first ranks, so shard sizes differ by at most one and every image belongs to one rank."""
from __future__ import annotations


def counts(batch: int, procs: int) -> list[int]:
    """Images per rank; the first ``batch % procs`` ranks take one extra. Ranks may get 0."""
    if batch < 0 or procs < 1:
        raise ValueError(f"cannot split a batch of {batch} over {procs} ranks")
    base, extra = divmod(batch, procs)
    return [base + (1 if r < extra else 0) for r in range(procs)]


def displacements(cnts: list[int]) -> list[int]:
    """Index of each rank's first image (exclusive prefix sum of the counts)."""
    out, acc = [], 0
    for c in cnts:
        out.append(acc)
        acc += c
    return out


def shard(batch: int, procs: int, rank: int) -> tuple[int, int]:
    """The [start, end) image range of one rank."""
    c = counts(batch, procs)
    start = sum(c[:rank])
    return start, start + c[rank]


def check_coverage(ranges: list[tuple[int, int]], batch: int) -> str | None:
    """None if the ranges cover [0, batch) exactly once, else what is wrong (one line)."""
    seen = sorted((s, e) for s, e in ranges if e != s)
    pos = 0
    for s, e in seen:
        if s < 0 or e < s or e > batch:
            return f"range [{s}, {e}) lies outside the batch [0, {batch})"
        if s > pos:
            return f"images [{pos}, {s}) were computed by no rank"
        if s < pos:
            return f"images [{s}, {min(pos, e)}) were computed by more than one rank"
        pos = e
    if pos != batch:
        return f"images [{pos}, {batch}) were computed by no rank"
    return None
