"""One launch of a point: write its spec, launch its ranks, turn what rank 0 wrote into rows.

One ``mpiexec`` launch runs a warm-up and repeats; a point is several launches
(engine/schedule.py orders them, engine/aggregate.py pools them into the point's row). The
spec and the rows are the records of :mod:`convbench.results.records`.
"""
from __future__ import annotations

import json
import math
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from convbench.reporting import stats
from convbench.engine import hosts
from convbench.engine import launcher as launch
from convbench.results import records
from convbench.results.records import PointRow, PointSpec, RankResult, RankRow
from convbench.engine.schedule import Slot
from convbench.results.store import launch_dir, write_json
from convbench.workload import cost

__all__ = ["PointSpec", "LaunchOutcome", "run", "collect", "explain", "stage_times"]


def stage_times(row: dict) -> dict:
    """Where a point's wall time went (records.STAGES and wall_s): what the manifest keeps."""
    return {k: row.get(k) for k in (*records.STAGES, "wall_s")}


@dataclass
class LaunchOutcome:
    """A measured (or failed) launch: its rank rows, its own row and the raw result.

    ``row`` is this launch alone as a summary row (a :class:`~convbench.results.records.PointRow`
    as a dict: its repeats' median, memory, stages, status), which engine/aggregate.py pools with
    the point's other launches; ``probe`` what the machine was doing around it (LaunchRow's
    started, load_before, load_after, governor, boost); ``result`` is what rank 0 wrote, as it
    wrote it (empty if it wrote nothing)."""

    slot: Slot
    rank_rows: list[RankRow]
    row: dict
    result: dict = field(default_factory=dict)
    probe: dict = field(default_factory=dict)
    sampled: bool = False       # the reference check on sample images ran in this launch

    @property
    def procs(self) -> int:
        return self.slot.procs

    @property
    def ok(self) -> bool:
        return self.row["status"] == "ok"

    def launch_row(self) -> dict:
        """Its row of launches.csv."""
        r, s = self.row, self.slot
        return records.to_dict(records.LaunchRow(
            procs=s.procs, launch=s.launch, round=s.round, position=s.position,
            repeats=r["repeats"], time_s=r["time_s"], time_min_s=r["time_min_s"],
            time_max_s=r["time_max_s"], **{k: r[k] for k in (*records.STAGES, "wall_s")},
            checksum=r["checksum"], sampled=self.sampled, verified=r["verified"],
            status=r["status"], reason=r["reason"],
            **{k: self.probe[k] for k in _PROBE if k in self.probe}))

    def save(self, d: Path) -> None:
        """outcome.json beside result.json: what a resumed sweep keeps of this launch."""
        write_json(Path(d) / "outcome.json", {
            "slot": [self.slot.procs, self.slot.launch, self.slot.round, self.slot.position],
            "row": self.row, "rank_rows": self.rank_rows, "probe": self.probe,
            "sampled": self.sampled})

    @classmethod
    def load(cls, d: Path, slot: Slot) -> "LaunchOutcome | None":
        """The outcome saved in a launch directory for this slot, or None if there is none (or
        it is corrupt, or it was another slot's). A schema 1-2 point directory (pNNNN holding
        one launch) reads as launch 0 in round 0."""
        try:
            saved = json.loads((Path(d) / "outcome.json").read_text(encoding="utf-8"))
            result = json.loads((Path(d) / "result.json").read_text(encoding="utf-8"))
            if not isinstance(saved, dict) or not isinstance(result, dict):
                return None
            if "slot" in saved and [int(x) for x in saved["slot"][:3]] != [slot.procs, slot.launch, slot.round]:
                return None
            slot = Slot(slot.procs, slot.launch, slot.round, int(saved.get("slot", [0] * 4)[3]))
            row = records.to_dict(PointRow.from_json(saved["row"]))
            rank_rows = [RankRow.from_json({"launch": slot.launch, "round": slot.round,
                                            "position": slot.position, **r})
                         for r in saved["rank_rows"]]
            probe = {k: v for k, v in (saved.get("probe") or {}).items() if k in _PROBE}
            if row["procs"] != slot.procs:
                return None
            return cls(slot, rank_rows, row, result, probe, bool(saved.get("sampled", True)))
        except (OSError, ValueError, KeyError, TypeError, IndexError, records.RecordError):
            return None


#: LaunchRow's fields that describe the machine around a launch
_PROBE = ("started", "load_before", "load_after", "others_cores", "governor", "boost")


def run(spec: PointSpec, slot: Slot, mpi: launch.Launcher, sweep_dir: Path, *, mode: str,
        oversubscribe: bool, hostfile: str | None = None, mpi_args: tuple[str, ...] = (),
        timeout: float | None = None, env: dict | None = None, ppn: int | None = None,
        bind: str | None = None) -> LaunchOutcome:
    """Run one launch of a point and collect it. KeyboardInterrupt passes through (ranks
    killed)."""
    d = launch_dir(sweep_dir, spec.procs, slot.launch)
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
    ended_at = time.time()

    result: dict = {}
    reason = outcome.reason()
    if not reason:
        try:
            result = json.loads(out_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            reason = f"rank 0 wrote no readable result ({e.__class__.__name__})"
    if reason:
        tail = outcome.log_tail or launch.tail(log_path)    # mpiexec may exit 0 and say why
        clue = hosts.clue(tail)
        if not clue and hostfile:       # the log names no host: which one stopped answering?
            try:
                clue = hosts.silence_clue(list(launch.hostfile_slots(hostfile)))
            except Exception:           # a clue must never hide the failure itself
                clue = ""
        reason += f"; {clue}{explain(tail)} (log: {log_path})"
    return collect(spec, result, slot, mode=mode, oversubscribed=oversubscribe,
                   started_at=outcome.started_at, ended_at=ended_at, failure=reason,
                   where=d)


_NOISE = re.compile(r"^[=\s]*$|^=|FAQ page|typically refers|YOU CAN IGNORE|^-+$|^\$ ")
_CLUES = (re.compile(r"^convbench\.(rank\.)?worker:"), re.compile(r"signal|Killed|Segmentation|Bus error", re.I),
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


def read_repeats(path: Path, procs: int, repeats: int) -> list[list[records.StepTimes]]:
    """The repeats rank 0 streamed (RankResult.repeats_file): per rank, its StepTimes in
    repeat order. Read line by line and bounded by what the spec asked for; a file with
    another count or shape raises RecordError."""
    per_rank: list[list[records.StepTimes]] = [[] for _ in range(procs)]
    n = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if n == repeats:
                raise records.RecordError(f"{path.name} holds more than the {repeats} repeats asked for")
            row = json.loads(line)
            if not isinstance(row, list) or len(row) != procs:
                raise records.RecordError(f"{path.name}, line {n + 1}: not one entry per rank")
            for r, t in enumerate(row):
                per_rank[r].append(records.StepTimes.from_json(t, f"{path.name}, line {n + 1}"))
            n += 1
    if n != repeats:
        raise records.RecordError(f"{path.name} holds {n} of the {repeats} repeats")
    return per_rank


def collect(spec: PointSpec, result: dict, slot: Slot, *, mode: str, oversubscribed: bool,
            started_at: float, ended_at: float = math.nan,
            failure: str = "", where: Path | None = None) -> LaunchOutcome:
    """Rows from rank 0's result (or a failed row where there is none). started_at and
    ended_at: time.time() when mpiexec was started and when it had exited; where: the
    launch's directory (the streamed repeats' file is there)."""
    sampled = spec.verify and spec.verify_samples > 0
    wl = spec.workload
    row = PointRow(
        wall_s=ended_at - started_at, mode=mode, pass_=spec.pass_, data=spec.data, procs=spec.procs, batch=wl.batch,
        images_per_rank=-(-wl.batch // spec.procs), repeats=spec.repeats,
        output_shape="x".join(map(str, wl.output_shape())), oversubscribed=oversubscribed,
        verified=False, status="failed", reason=failure)
    res = None
    if not failure and result:
        try:
            res = RankResult.from_json(result, "rank 0's result")
            if res.repeats_file:
                if where is None or Path(res.repeats_file).name != res.repeats_file:
                    raise records.RecordError("rank 0's result names no repeats file beside it")
                streamed = read_repeats(Path(where) / res.repeats_file, spec.procs, spec.repeats)
                for r in res.ranks:
                    r.repeats = streamed[r.rank]
        except (records.RecordError, OSError, ValueError, IndexError) as e:
            res = None
            row.reason = f"{e} (written by another convbench version?)"
    probe = {"started": started_at}
    if res is None:
        return LaunchOutcome(slot, [], records.to_dict(row), result, probe, sampled)

    per_rank = sorted(res.ranks, key=lambda r: r.rank)
    rank_rows = [
        RankRow(procs=spec.procs, launch=slot.launch, round=slot.round, position=slot.position,
                repeat=i, rank=r.rank, host=r.host, start=r.start, end=r.end,
                images=r.images, **records.to_dict(rep), rss_base_mb=r.rss_base_mb,
                rss_peak_mb=r.rss_peak_mb, rss_data_mb=r.rss_peak_mb - r.rss_base_mb,
                affinity=r.affinity)
        for r in res.ranks for i, rep in enumerate(r.repeats)]
    times = stats.repeat_times([[rep.time_s for rep in r.repeats] for r in per_rank])
    compute = stats.repeat_times([[rep.compute_s for rep in r.repeats] for r in per_rank])
    comm = stats.repeat_times([[rep.comm_s for rep in r.repeats] for r in per_rank])
    peaks = [r.rss_peak_mb for r in per_rank]
    t = stats.median(times)
    errors = res.verify_errors
    good = res.verified and not errors
    row.time_s, row.time_min_s, row.time_max_s = t, min(times), max(times)
    row.compute_s, row.comm_s = stats.median(compute), stats.median(comm)
    row.gflops = cost.flops(wl, spec.pass_) / t / 1e9 if t > 0 else math.nan
    row.gbs = cost.kernel_bytes(wl, spec.pass_) / t / 1e9 if t > 0 else math.nan
    row.mem_total_mb, row.mem_max_rank_mb, row.mem_rank0_mb = sum(peaks), max(peaks), peaks[0]
    row.mem_data_mb = sum(r.rss_peak_mb - r.rss_base_mb for r in per_rank)
    row.mem_per_rank_mb = [round(p, 2) for p in peaks]
    row.checksum, row.idle_ranks = res.checksum, res.idle_ranks
    row.hosts = len({r.host for r in per_rank})
    # the fixed cost of a point: from starting mpiexec until every rank has Python, its imports
    # and MPI ready (the worker's first barrier)
    row.launch_s = res.ready_at - started_at
    row.data_s, row.warmup_s, row.repeats_s = res.data_s, res.warmup_s, res.repeats_s
    row.verify_s = res.verify_s
    row.write_s = ended_at - res.done_at
    row.verified = good
    row.status = "ok" if good or not spec.verify else "failed"
    row.reason = "; ".join(errors[:3]) if errors else ""
    if not spec.verify:
        row.verified = False
        row.reason = "verification switched off (--no-verify)"
    return LaunchOutcome(slot, rank_rows, records.to_dict(row), result, probe, sampled)
