"""The phases of one timed step: the single list every part of convbench reads.

The worker times the measured phases of each repeat on every rank; ``wait`` is what is left of
the step (the barriers: load imbalance). ranks.csv has one ``<name>_s`` column per phase, the
statistics and figures break a point's time into them in this order (the order of a stacked
bar), the report note and the scaling model's communication add up the phases marked ``comm``.

Standard library only: the ranks import it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Phase:
    """One phase of a step: its name, whether it is communication, its label and colour."""

    name: str             # the worker's key; its CSV column is ``<name>_s``
    comm: bool            # communication (counted in comm_s)
    label: str            # how a figure's legend names it
    color: str            # its matplotlib colour
    measured: bool = True  # timed by the worker (wait is the rest of the step)

    @property
    def column(self) -> str:
        return f"{self.name}_s"


#: every phase, in the order a stacked bar draws them (compute at the bottom, wait on top)
PHASES: tuple[Phase, ...] = (
    Phase("compute", False, "compute", "C0"),
    Phase("scatter", True, "scatter", "C1"),
    Phase("halo", True, "halo exchange", "C3"),
    Phase("gather", True, "gather", "C2"),
    Phase("allreduce", True, "allreduce", "C4"),
    Phase("wait", False, "wait (load imbalance)", "0.7", measured=False),
)
#: the phases the worker times
MEASURED: tuple[Phase, ...] = tuple(p for p in PHASES if p.measured)
#: the communication phases: comm_s is their sum
COMM: tuple[Phase, ...] = tuple(p for p in PHASES if p.comm)


def columns(phases: tuple[Phase, ...] = PHASES) -> tuple[str, ...]:
    """The CSV columns of phases (``compute_s``, ...), in registry order."""
    return tuple(p.column for p in phases)


def comm_text() -> str:
    """The communication phases for a sentence: 'scatter + halo + gather + allreduce'."""
    return " + ".join(p.name for p in COMM)


def by_name(name: str) -> Phase:
    for p in PHASES:
        if p.name == name:
            return p
    raise KeyError(f"no phase {name!r}")
