"""The network, measured: an MPI ping-pong and bandwidth sweep between two ranks
(convbench.rank.pingpong, 8 B to 64 MiB) within this host or between two hosts of a hostfile or a
Slurm allocation, turned into the latency and bandwidth the scaling model uses, cached beside the
roofline (convbench.kernel.roofline.save_network) and recorded in each sweep's manifest.

A link's record::

    {"link": "between", "hosts": ["node1", "node2"], "names": ["node1", "node2"],
     "latency_s": 3.1e-05,            # one-way time of the small messages (<= 1 KiB)
     "bandwidth_bps": 2.4e+09,        # the plateau: median size / one-way time from 8 MiB on
     "sizes": [8, 32, ...], "one_way_s": [...], "bandwidth_by_size_bps": [...],
     "launcher": "MPICH", "mpi_library": "...", "repeats": 5, "measured_at": "..."}

``hosts`` are the names the ranks reported (gethostname), ``names`` the ones the hostfile or the
allocation gave; a sweep is matched to a record by either.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from convbench.core.errors import ConvbenchError, UsageError
from convbench.core.host import core_count
from convbench.engine import launcher as launch
from convbench.engine import slurm
from convbench.kernel import roofline as cache
from convbench.rank.pingpong import DEFAULT_SIZES

WITHIN = "within"


def link_key(names) -> str:
    """The cache key of a link between hosts: 'between:h1,h2' (sorted)."""
    return "between:" + ",".join(sorted(names))


#: messages up to this size measure the latency (their time is the latency, not the bytes)
LATENCY_BYTES = 1024
#: messages from this size on measure the bandwidth (their time is the bytes, not the latency)
PLATEAU_BYTES = 8 * 2 ** 20


def summarize(sizes, one_way_s) -> tuple[float, float, list[float]]:
    """(latency, bandwidth, the bandwidth of every size) in seconds and bytes per second.

    latency: the least one-way time of the sizes up to LATENCY_BYTES (none: the smallest
    size's); the least, as the roofline keeps the best: on a shared machine the others' load
    only ever adds time. bandwidth: the plateau, the median of size / one-way time over the sizes
    from PLATEAU_BYTES on (none: the best size's); a median, not the best, because a message
    that fits in the caches copies faster than the large ones a sweep sends."""
    pairs = sorted(zip(sizes, one_way_s))
    if not pairs or any(not t > 0 for _, t in pairs):
        raise ConvbenchError("the ping-pong returned no positive time")
    small = [t for n, t in pairs if n <= LATENCY_BYTES] or [pairs[0][1]]
    per_size = [n / t for n, t in zip(sizes, one_way_s)]
    large = [n / t for n, t in pairs if n >= PLATEAU_BYTES]
    return min(small), (statistics.median(large) if large else max(per_size)), per_size


def allocation_hosts() -> list[str]:
    """The nodes of the current Slurm allocation (scontrol show hostnames)."""
    scontrol = shutil.which("scontrol")
    nodelist = os.environ.get("SLURM_JOB_NODELIST") or os.environ.get("SLURM_NODELIST")
    if not scontrol or not nodelist:
        return []
    try:
        proc = subprocess.run([scontrol, "show", "hostnames", nodelist], capture_output=True,
                              text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    return proc.stdout.split() if proc.returncode == 0 else []


def measure(*, hostfile: str | None = None, use_slurm: bool = False,
            mpiexec: str | None = None, sizes=DEFAULT_SIZES, repeats: int = 5, warmup: int = 2,
            timeout: float = 300) -> dict:
    """Run the ping-pong now: within this host (no hostfile, not Slurm), or between the first
    two hosts of the hostfile (one rank each), or between two nodes of the Slurm allocation."""
    if repeats < 1:
        raise UsageError(f"the ping-pong repeats must be >= 1, got {repeats}")
    if hostfile and use_slurm:
        raise UsageError("--hostfile and --launcher slurm exclude each other")
    names: list[str] = []
    if use_slurm:
        if not slurm.in_allocation():
            raise UsageError("--launcher slurm measures between two nodes of an allocation: "
                             "run it inside salloc -N 2 (or an sbatch job)")
        mpi = slurm.srun_launcher()
    else:
        if hostfile:                # refused before mpiexec is looked at
            names = list(launch.hostfile_slots(hostfile))
            if len(names) < 2:
                raise UsageError(f"hostfile {hostfile!r} names one host ({names[0]}): the "
                                 "network between hosts needs two")
        mpi = launch.detect(launch.find_mpiexec(mpiexec))
    between = bool(hostfile or use_slurm)
    with tempfile.TemporaryDirectory(prefix="convbench-pingpong-") as tmp:
        out, log = Path(tmp) / "pingpong.json", Path(tmp) / "pingpong.log"
        program = [sys.executable, "-m", "convbench.rank.pingpong", str(out),
                   "--sizes", ",".join(str(int(n)) for n in sizes),
                   "--repeats", str(repeats), "--warmup", str(warmup)]
        argv = mpi.command(2, program, oversubscribe=not between and core_count() < 2,
                           hostfile=hostfile, ppn=1 if between else None)
        outcome = launch.execute(argv, env=mpi.env(), log_path=log, timeout=timeout)
        try:
            result = json.loads(out.read_text(encoding="utf-8")) if outcome.ok else None
        except (OSError, ValueError):
            result = None
        if result is None:
            tail = outcome.log_tail or launch.tail(log)
            why = outcome.reason() or "rank 0 wrote no result"
            last = next((ln.strip() for ln in reversed(tail) if ln.strip() and not ln.startswith("$ ")), "")
            raise ConvbenchError(f"the ping-pong failed: {why}" + (f": {last}" if last else ""))
    hosts = [str(h) for h in result["hosts"]]
    if between and hosts[0] == hosts[1]:
        raise ConvbenchError(f"both ping-pong ranks ran on host {hosts[0]}: the network between "
                             "hosts needs one rank on each of two hosts")
    latency, bandwidth, per_size = summarize(result["sizes"], result["one_way_s"])
    return {"link": "between" if between else WITHIN, "hosts": hosts,
            "names": names[:2] if hostfile else hosts if use_slurm else [],
            "latency_s": latency, "bandwidth_bps": bandwidth,
            "sizes": list(result["sizes"]), "one_way_s": list(result["one_way_s"]),
            "bandwidth_by_size_bps": per_size, "launcher": mpi.vendor,
            "mpi_library": result.get("mpi_library", ""), "repeats": repeats,
            "measured_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def network(*, refresh: bool = False, hostfile: str | None = None, use_slurm: bool = False,
            **measure_args) -> dict:
    """The cached measurement of the link (within this host, or between the hosts of the
    hostfile / allocation), or a new one, cached."""
    between = bool(hostfile or use_slurm)
    if between:
        names = (list(launch.hostfile_slots(hostfile))[:2] if hostfile else allocation_hosts()[:2])
    if not refresh:
        for key, rec in cache.cached_network().items():
            if not between and key == WITHIN:
                return rec
            if between and key != WITHIN and names and _matches(rec, names):
                return rec
    rec = measure(hostfile=hostfile, use_slurm=use_slurm, **measure_args)
    cache.save_network(WITHIN if not between else link_key(rec["hosts"]), rec)
    return rec


def _matches(rec: dict, names) -> bool:
    """Whether a between-hosts record links two of these hosts (by reported or given name)."""
    want = set(names)
    return any(len(set(rec.get(k) or []) & want) >= 2 for k in ("hosts", "names"))


def for_sweep(hostfile: str | None, launcher: str) -> dict | None:
    """The manifest's "network": the cached records that fit the sweep's placement (never
    measures): {"within": .., "between": ..} (either may be missing), or None."""
    try:
        recs = cache.cached_network()
        if hostfile:
            names = list(launch.hostfile_slots(hostfile))
        elif launcher == "slurm" and slurm.in_allocation():
            names = allocation_hosts()
        else:
            names = []
    except Exception:       # a broken cache or hostfile must not stop a sweep here
        return None
    out = {}
    if WITHIN in recs:
        out["within"] = recs[WITHIN]
    if len(names) >= 2:
        match = next((r for k, r in recs.items() if k != WITHIN and _matches(r, names)), None)
        if match is not None:
            out["between"] = match
    return out or None
