"""The order of a sweep's launches: which P runs when, so that a slow spell of the machine
falls on every P alike instead of biasing one.

A point is several launches; a launch is a :class:`Slot`: its P, the P's own launch number, the
round it belongs to and its position in the sweep. Orders (``--order``):

- ``rounds`` (default): round r launches every P once, in a random order drawn from the seed
  and r; speedups pair each P with the base point of the same round (a slow round slows both);
- ``random``: every launch of every P shuffled together (round r = a P's launch r);
- ``sequential``: every launch of the first P, then of the next (round r = a P's launch r);
  the old behaviour, kept to show what the rounds protect against.

Pure: the same (procs, launches, order, seed) give the same slots, so a resumed sweep finds the
launches it still owes.
"""
from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Slot:
    """One launch of the sweep."""

    procs: int
    launch: int         # the P's own launch: 0, 1, ...
    round: int          # the round it belongs to (speedups pair by round)
    position: int       # its place in the sweep: 0, 1, ...


def _rng(seed: int, *salt: int) -> random.Random:
    return random.Random(":".join(map(str, (seed, *salt))))     # str seeds: stable everywhere


def slots(procs: tuple[int, ...], launches: int, order: str, seed: int) -> list[Slot]:
    """The first `launches` launches of every P, in the order's sequence."""
    pairs: list[tuple[int, int]] = []           # (P, launch == round)
    if order == "rounds":
        for r in range(launches):
            perm = list(procs)
            _rng(seed, r).shuffle(perm)
            pairs += [(p, r) for p in perm]
    elif order == "random":
        order_ = [p for _ in range(launches) for p in procs]
        _rng(seed).shuffle(order_)
        seen: dict[int, int] = {}
        for p in order_:                        # a P's launches numbered as they come
            pairs.append((p, seen.get(p, 0)))
            seen[p] = seen.get(p, 0) + 1
    elif order == "sequential":
        pairs = [(p, r) for p in procs for r in range(launches)]
    else:
        raise ValueError(f"unknown order {order!r}")
    return [Slot(p, r, r, i) for i, (p, r) in enumerate(pairs)]


def extra_round(needs: list[int], base: int | None, round_: int, launched: dict[int, int],
                position: int, seed: int) -> list[Slot]:
    """One more round (--target-ci) for the P in `needs`, with the base point (their speedups
    pair with it), in a random order from the seed and the round. launched: P -> launches it
    has had (the new launch numbers follow); position: the sweep's next position."""
    members = list(dict.fromkeys(([base] if base is not None else []) + list(needs)))
    _rng(seed, round_).shuffle(members)
    return [Slot(p, launched.get(p, 0), round_, position + i) for i, p in enumerate(members)]


def draw_seed() -> int:
    """A seed for --order rounds/random when none is given (recorded in the manifest)."""
    import secrets
    return secrets.randbelow(2**31)
