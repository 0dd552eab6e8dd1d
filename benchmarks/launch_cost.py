"""The fixed cost of one sweep point beside its floor, per MPI, interleaved.

The floor: mpiexec starting P ranks that import only mpi4py and numpy and meet at a barrier,
timed end to end (from starting mpiexec until it exits). convbench's fixed cost: a point of the
tiny workload (1 repeat, no warm-up), whose launch_s (mpiexec started -> every rank has Python,
its imports and MPI) and write_s (rank 0's result, finalisation, exit) are what a point costs
beyond its data, steps and verification; wall_s is the whole point, end to end. Every MPI, P
and kind is measured in turn, round after round, so drift hits them alike; the script prints
medians. Each MPI runs with the Python installed next to its mpiexec (mpi4py must load that
MPI's library). The ratio's 95% interval pairs each round's floor with its convbench point
(convbench's own bootstrap, reporting/uncertainty.py). The package's bytecode is compiled first:
a stale cache (an edited source under PYTHONDONTWRITEBYTECODE) would be compiled again in every
rank, a cost an installed convbench never pays.

    python benchmarks/launch_cost.py                        # the mpiexec convbench finds
    python benchmarks/launch_cost.py --procs 1,2,4 --points 7
    python benchmarks/launch_cost.py --mpiexec VENV_A/bin/mpiexec --mpiexec VENV_B/bin/mpiexec
"""
from __future__ import annotations

import argparse
import compileall
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from convbench.core import host
from convbench.engine import launcher
from convbench.reporting import uncertainty

SRC = Path(__file__).resolve().parent.parent
#: what a rank of the floor runs: the least a Python MPI rank with numpy does
FLOOR = "from mpi4py import MPI; import numpy; MPI.COMM_WORLD.Barrier()"


def _python(mpiexec: str) -> str:
    py = Path(mpiexec).parent / "python"
    return str(py) if py.exists() else sys.executable


def floor(mpi: launcher.Launcher, procs: int) -> float:
    """Seconds from starting mpiexec until it exits, ranks doing FLOOR."""
    argv = mpi.command(procs, [_python(mpi.path), "-c", FLOOR],
                       oversubscribe=procs > host.core_count())
    t0 = time.perf_counter()
    p = subprocess.run(argv, env={**os.environ, **mpi.env()}, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise SystemExit(f"{mpi.path}: the floor failed: {p.stderr.strip()[-300:]}")
    return time.perf_counter() - t0


def one_sweep(mpiexec: str, procs: str, out: str) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    before = set(Path(out).iterdir())
    p = subprocess.run([_python(mpiexec), "-m", "convbench", "strong", "--launches", "1", "--order", "sequential", "--preset", "tiny",
                        "--procs", procs, "--repeats", "1", "--warmup", "0", "--out", out,
                        "--mpiexec", mpiexec],
                       capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise SystemExit(f"{mpiexec}: {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else p.returncode}")
    [d] = set(Path(out).iterdir()) - before
    with open(d / "summary.csv", newline="") as f:
        return list(csv.DictReader(f))


def over_floor(floor_s: list[float], fixed_s: list[float]) -> tuple[float, float]:
    """The 95% interval of median(fixed) / median(floor) - 1, the rounds paired."""
    f, x = np.asarray(floor_s), np.asarray(fixed_s)
    value = float(np.median(x) / np.median(f) - 1)
    return uncertainty.bootstrap(
        (f, x), lambda a, b, axis=-1: np.median(b, axis=axis) / np.median(a, axis=axis) - 1,
        value, paired=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mpiexec", action="append", help="an mpiexec to measure (repeatable)")
    ap.add_argument("--procs", default="1,2,4", help="rank counts (default 1,2,4)")
    ap.add_argument("--points", type=int, default=5, help="rounds per MPI and P (default 5)")
    args = ap.parse_args()
    mpis = [launcher.detect(launcher.find_mpiexec(p)) for p in (args.mpiexec or [None])]
    procs = [int(p) for p in args.procs.split(",")]
    compileall.compile_dir(str(SRC / "convbench"), quiet=1)
    got: dict = {}          # (mpi path, P, kind) -> seconds
    with tempfile.TemporaryDirectory() as out:
        for _ in range(args.points):
            for m in mpis:                   # interleaved: floor, then convbench, each round
                for p in procs:
                    got.setdefault((m.path, p, "floor"), []).append(floor(m, p))
                for r in one_sweep(m.path, args.procs, out):
                    p = int(r["procs"])
                    launch, write = float(r["launch_s"]), float(r["write_s"])
                    got.setdefault((m.path, p, "launch"), []).append(launch)
                    got.setdefault((m.path, p, "fixed"), []).append(launch + write)
                    got.setdefault((m.path, p, "wall"), []).append(float(r["wall_s"]))
    med = {k: statistics.median(v) for k, v in got.items()}
    print(f"{'MPI':<32} {'P':>3} {'floor s':>8} {'launch_s':>9} {'launch+write':>13} "
          f"{'vs floor [95% CI]':>22} {'point wall_s':>13}")
    for m in mpis:
        for p in procs:
            k = (m.path, p)
            fl, fixed = med[(*k, "floor")], med[(*k, "fixed")]
            lo, hi = over_floor(got[(*k, "floor")], got[(*k, "fixed")])
            ci = f"{fixed / fl - 1:+.0%} [{lo:+.0%}, {hi:+.0%}]"
            print(f"{(m.vendor + ', ' + m.version)[:32]:<32} {p:>3} {fl:>8.3f} "
                  f"{med[(*k, 'launch')]:>9.3f} {fixed:>13.3f} {ci:>22} "
                  f"{med[(*k, 'wall')]:>13.3f}")
    print(f"(medians of {args.points} rounds, interleaved; floor: mpiexec + ranks importing "
          "mpi4py and numpy meeting at a barrier, end to end; convbench: the tiny workload, "
          "1 repeat, no warm-up)")


if __name__ == "__main__":
    main()
