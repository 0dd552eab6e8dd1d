"""One point of a sweep: write its spec, launch its ranks once, turn what rank 0 wrote into rows.

One ``mpiexec`` launch runs the warm-up and all repeats of a point. The rows made here are
plain dicts with the columns of :mod:`convbench.results.store`.
"""
from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from convbench.reporting import stats
from convbench.engine import hosts
from convbench.engine import launcher as launch
from convbench.results.store import point_dir, write_json
from convbench.workload.spec import Workload


@dataclass(frozen=True)
class PointSpec:
    """What the ranks of one point run (the worker's SPEC file)."""

    workload: Workload       # batch = the whole batch of this point
    procs: int
    pass_: str
    data: str
    repeats: int
    warmup: int
    verify: bool = True
    verify_samples: int = 2
    checksum_images: int = 0   # checksum_ref covers images [0, checksum_images)
    decomp: str = "batch"      # batch | spatial
    backend: str = "convbench" # convbench | torch | naive
    images: str | None = None  # a directory of PNG/JPEG files instead of synthetic images
    threads: int = 1           # threads per rank

    def to_json(self) -> dict:
        return {
            "workload": self.workload.to_dict(), "procs": self.procs, "pass": self.pass_,
            "data": self.data, "repeats": self.repeats, "warmup": self.warmup,
            "verify": self.verify, "verify_samples": self.verify_samples,
            "checksum_images": self.checksum_images or self.workload.batch,
            "decomp": self.decomp, "backend": self.backend, "images": self.images,
            "threads": self.threads,
        }


@dataclass
class PointOutcome:
    """A measured (or failed) point: its rank rows, its summary row and the raw result."""

    procs: int
    rank_rows: list[dict]
    row: dict                                   # summary row, before speedup / efficiency
    result: dict = field(default_factory=dict)  # what rank 0 wrote (empty if it wrote nothing)

    @property
    def ok(self) -> bool:
        return self.row["status"] == "ok"

    def save(self, d: Path) -> None:
        """outcome.json beside result.json: what a resumed sweep keeps of this point."""
        write_json(Path(d) / "outcome.json", {"row": self.row, "rank_rows": self.rank_rows})

    @classmethod
    def load(cls, d: Path) -> "PointOutcome | None":
        """The outcome saved in a point directory, or None if there is none (or it is corrupt)."""
        try:
            saved = json.loads((Path(d) / "outcome.json").read_text(encoding="utf-8"))
            result = json.loads((Path(d) / "result.json").read_text(encoding="utf-8"))
            return cls(int(saved["row"]["procs"]), saved["rank_rows"], saved["row"], result)
        except (OSError, ValueError, KeyError, TypeError):
            return None


def run(spec: PointSpec, mpi: launch.Launcher, sweep_dir: Path, *, mode: str,
        oversubscribe: bool, hostfile: str | None = None, mpi_args: tuple[str, ...] = (),
        timeout: float | None = None, env: dict | None = None, ppn: int | None = None,
        bind: str | None = None) -> PointOutcome:
    """Launch one point and collect it. KeyboardInterrupt passes through (ranks killed)."""
    d = point_dir(sweep_dir, spec.procs)
    spec_path, out_path, log_path = d / "spec.json", d / "result.json", d / "mpiexec.log"
    if out_path.exists():         # a result left by an earlier session of this point
        out_path.unlink()
    write_json(spec_path, spec.to_json())
    program = [sys.executable, "-m", "convbench.rank.worker", str(spec_path), str(out_path)]
    argv = mpi.command(spec.procs, program, oversubscribe=oversubscribe, hostfile=hostfile,
                       extra=mpi_args, ppn=ppn, bind=bind)
    ranks_env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                 **mpi.env(), **(env or {})}
    outcome = launch.execute(argv, env=ranks_env, log_path=log_path, timeout=timeout)

    result: dict = {}
    reason = outcome.reason()
    if not reason:
        try:
            result = json.loads(out_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            reason = f"rank 0 wrote no readable result ({e.__class__.__name__})"
    if reason:
        tail = outcome.log_tail or launch.tail(log_path)    # mpiexec may exit 0 and say why
        reason += f"; {hosts.clue(tail)}{explain(tail)} (log: {log_path})"
    return collect(spec, result, mode=mode, oversubscribed=oversubscribe,
                   started_at=outcome.started_at, failure=reason)


_NOISE = re.compile(r"^[=\s]*$|^=|FAQ page|typically refers|YOU CAN IGNORE|^-+$|^\$ ")
_CLUES = (re.compile(r"^convbench\.worker:"), re.compile(r"signal|Killed|Segmentation|Bus error", re.I),
          re.compile(r"exited|EXIT CODE|MPI_Abort|Error|error", re.I))


def explain(tail: list[str]) -> str:
    """The most telling line of the ranks' last output: convbench's own message, then a
    signal, then an exit or error line, else the last line that is not decoration."""
    lines = [ln.strip() for ln in tail if not _NOISE.search(ln.strip())]
    for clue in _CLUES:
        hits = [ln for ln in lines if clue.search(ln)]
        if hits:
            line = hits[-1]
            break
    else:
        line = lines[-1] if lines else "no output"
    if any("overload-allowed" in ln for ln in tail):
        line += ("; hint: the hostfile gives a host more slots than it has cores, so its ranks "
                 "cannot each be bound to a core: add --bind-to none")
    if any("PMI" in ln for ln in tail) and not line.startswith("convbench.rank.worker:"):
        line += ("; hint: this mpiexec and the MPI library mpi4py loads seem to come from "
                 "different MPIs: use the mpiexec of the MPI mpi4py runs on")
    return line[:300]


def collect(spec: PointSpec, result: dict, *, mode: str, oversubscribed: bool,
            started_at: float, failure: str = "") -> PointOutcome:
    """Rows from rank 0's result (or a failed row where there is none)."""
    wl = spec.workload
    row = {
        "mode": mode, "pass": spec.pass_, "data": spec.data, "procs": spec.procs,
        "batch": wl.batch, "images_per_rank": -(-wl.batch // spec.procs), "repeats": spec.repeats,
        "output_shape": "x".join(map(str, wl.output_shape())), "oversubscribed": oversubscribed,
        "verified": False, "status": "failed", "reason": failure, "launch_s": math.nan,
        "time_s": math.nan,
    }
    if failure or not result:
        return PointOutcome(spec.procs, [], row, result)

    rank_rows = []
    for r in result["ranks"]:
        for i, rep in enumerate(r["repeats"]):
            rank_rows.append({
                "procs": spec.procs, "repeat": i, "rank": r["rank"], "host": r["host"],
                "start": r["start"], "end": r["end"], "images": r["images"],
                **{k: rep.get(k, 0.0) for k in ("time_s", "compute_s", "comm_s", "scatter_s",
                                                "halo_s", "gather_s", "allreduce_s", "wait_s")},
                "rss_base_mb": r["rss_base_mb"], "rss_peak_mb": r["rss_peak_mb"],
                "rss_data_mb": r["rss_peak_mb"] - r["rss_base_mb"],
            })
    per_rank = sorted(result["ranks"], key=lambda r: r["rank"])
    times = stats.repeat_times([[rep["time_s"] for rep in r["repeats"]] for r in per_rank])
    compute = stats.repeat_times([[rep["compute_s"] for rep in r["repeats"]] for r in per_rank])
    comm = stats.repeat_times([[rep["comm_s"] for rep in r["repeats"]] for r in per_rank])
    peaks = [r["rss_peak_mb"] for r in per_rank]
    t = stats.median(times)
    errors = result.get("verify_errors") or []
    row.update(
        time_s=t, time_min_s=min(times), time_max_s=max(times),
        compute_s=stats.median(compute), comm_s=stats.median(comm),
        gflops=wl.flops(spec.pass_) / t / 1e9 if t > 0 else math.nan,
        gbs=wl.bytes_moved(spec.pass_) / t / 1e9 if t > 0 else math.nan,
        mem_total_mb=sum(peaks), mem_max_rank_mb=max(peaks), mem_rank0_mb=peaks[0],
        mem_data_mb=sum(r["rss_peak_mb"] - r["rss_base_mb"] for r in per_rank),
        mem_per_rank_mb=[round(p, 2) for p in peaks],
        checksum=result.get("checksum"), idle_ranks=result.get("idle_ranks") or [],
        hosts=len({r["host"] for r in per_rank}),
        # the fixed cost of a point: from starting mpiexec until every rank has Python, its
        # imports and MPI ready (the worker's first barrier)
        launch_s=result["ready_at"] - started_at if "ready_at" in result else math.nan,
        verified=bool(result.get("verified")) and not errors,
        status="ok" if (result.get("verified") and not errors) or not spec.verify else "failed",
        reason="; ".join(errors[:3]) if errors else "",
    )
    if not spec.verify:
        row["verified"] = False
        row["reason"] = "verification switched off (--no-verify)"
    return PointOutcome(spec.procs, rank_rows, row, result)
