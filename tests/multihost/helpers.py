"""What the multi-host tests read back: summary rows, rank hosts, the bytes a point must move."""
from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest

from convbench.workload.cost import FLOAT_BYTES
from convbench.workload.spec import Workload

#: a hostfile line of each vendor: MPICH 'host:N', Open MPI 'host slots=N'
VENDORS = ("MPICH", "Open MPI")


def only_vendor(mpi, vendor: str) -> None:
    """Skip unless `vendor`'s mpiexec is the one in use (make test-openmpi runs the other)."""
    if mpi.vendor != vendor:
        pytest.skip(f"runs where {vendor}'s mpiexec is in use (this one is {mpi.vendor}); "
                    f"{'make test-openmpi' if vendor == 'Open MPI' else 'make test'} runs it")


def summary(d: Path) -> dict[int, dict]:
    with open(d / "summary.csv", newline="") as f:
        return {int(r["procs"]): r for r in csv.DictReader(f)}


def manifest(d: Path) -> dict:
    return json.loads((d / "manifest.json").read_text())


def rank_hosts(d: Path) -> dict[int, dict[int, tuple[str, int]]]:
    """procs -> rank -> (host, images) from ranks.csv (repeat 0)."""
    out: dict[int, dict[int, tuple[str, int]]] = defaultdict(dict)
    with open(d / "ranks.csv", newline="") as f:
        for r in csv.DictReader(f):
            if r["repeat"] == "0":
                out[int(r["procs"])][int(r["rank"])] = (r["host"], int(r["images"]))
    return dict(out)


def expected_placement(vendor: str, procs: int, ppn: int, names: list[str]) -> list[str]:
    """The host of each rank that --ppn asks for: blocks of ppn ranks per host, in hostfile
    order; MPICH's -ppn cycles over the hosts again past ppn x hosts ranks, Open MPI's
    ppr:N:node never places more than ppn x hosts."""
    if vendor == "Open MPI":
        assert procs <= ppn * len(names)
    return [names[(r // ppn) % len(names)] for r in range(procs)]


def bytes_to_and_from(d: Path, host: str, runs: int) -> tuple[int, int]:
    """Bytes the scatter must send to `host`'s ranks and the gather must bring back, over the
    sweep: each image of its ranks once per run (warm-up + repeats)."""
    wl = Workload.from_dict(manifest(d)["workload"])
    images = sum(n for ranks in rank_hosts(d).values() for h, n in ranks.values() if h == host)
    return (images * wl.image_elems * FLOAT_BYTES * runs,
            images * wl.out_image_elems * FLOAT_BYTES * runs)
