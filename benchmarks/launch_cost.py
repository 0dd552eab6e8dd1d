"""The fixed cost of one sweep point, per MPI: from starting mpiexec until every rank has
Python, numpy, the kernel and MPI ready (convbench's launch_s), on the tiny workload. The MPIs
run side by side, interleaved, each with the Python installed next to its mpiexec (mpi4py must
load that MPI's library), and the script prints medians.

    python benchmarks/launch_cost.py                        # the mpiexec convbench finds
    python benchmarks/launch_cost.py --mpiexec VENV_A/bin/mpiexec --mpiexec VENV_B/bin/mpiexec
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from convbench.engine import launcher

SRC = Path(__file__).resolve().parent.parent


def one_sweep(mpiexec: str, procs: str, out: str) -> list[dict]:
    py = Path(mpiexec).parent / "python"
    py = str(py) if py.exists() else sys.executable
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    before = set(Path(out).iterdir())
    p = subprocess.run([py, "-m", "convbench", "strong", "--preset", "tiny", "--procs", procs,
                        "--repeats", "1", "--warmup", "0", "--out", out, "--mpiexec", mpiexec],
                       capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise SystemExit(f"{mpiexec}: {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else p.returncode}")
    [d] = set(Path(out).iterdir()) - before
    with open(d / "summary.csv", newline="") as f:
        return list(csv.DictReader(f))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mpiexec", action="append", help="an mpiexec to measure (repeatable)")
    ap.add_argument("--procs", default="1,2", help="rank counts (default 1,2)")
    ap.add_argument("--points", type=int, default=5, help="launches per MPI and P (default 5)")
    args = ap.parse_args()
    mpis = [launcher.detect(launcher.find_mpiexec(p)) for p in (args.mpiexec or [None])]
    launch: dict = {}
    with tempfile.TemporaryDirectory() as out:
        for _ in range(args.points):
            for m in mpis:                   # interleaved, so drift hits every MPI alike
                for r in one_sweep(m.path, args.procs, out):
                    launch.setdefault((m.path, int(r["procs"])), []).append(float(r["launch_s"]))
    print(f"{'MPI':<40} {'P':>3} {'launch_s median':>16} {'min':>7} {'max':>7}")
    for m in mpis:
        for (path, p), v in sorted(launch.items()):
            if path == m.path:
                print(f"{(m.vendor + ', ' + m.version)[:40]:<40} {p:>3} {statistics.median(v):>16.3f} "
                      f"{min(v):>7.3f} {max(v):>7.3f}")
    print(f"({args.points} launches each, tiny workload, interleaved)")


if __name__ == "__main__":
    main()
