"""The typed records that cross convbench's boundaries, defined once.

- :class:`PointSpec`: what the ranks of one point run (the worker's SPEC file);
- :class:`RankResult`: what rank 0 writes to OUT (with one :class:`RankReport` per rank and one
  :class:`StepTimes` per repeat);
- :class:`RankRow`: one row of ranks.csv; :class:`LaunchRow`: one row of launches.csv;
  :class:`PointRow`: one row of summary.csv;
- :class:`Manifest`: manifest.json, with its ``schema_version``.

A record's fields are its JSON keys or CSV columns, in order, and their types: ``columns`` and
``column_kinds`` give them to the writers and to the loading checks. Reading JSON checks every
key's type and refuses unknown and missing keys with one line naming the key (``RecordError``).
JSON is strict: NaN and infinities are written as null and read back as NaN (typed.py).

Standard library only (dataclasses, json, math): the ranks import it.
"""
from dataclasses import dataclass, field

from convbench.results.typed import (NAN, Record, RecordError, column, column_kinds,  # noqa: F401
                                     columns, dumps, from_dict, json_safe, numeric_columns, pick,
                                     to_dict)
from convbench.workload.spec import Workload

#: the layout this convbench writes: 2 added manifest.json's schema_version (version 1, convbench
#: 0.1.0, wrote no version; its files have the same columns and load unchanged); 3 made a point
#: several launches (points/pNNNN/lNNN/, launches.csv, the launch columns of ranks.csv and the
#: interval columns of summary.csv). An older sweep reads as one launch per point.
SCHEMA_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)


# ---- what a point's ranks run and what rank 0 writes -------------------------------------------
@dataclass(frozen=True)
class PointSpec(Record):
    """What the ranks of one point run (the worker's SPEC file)."""

    workload: Workload                          # batch = the whole batch of this point
    procs: int
    pass_: str = column("pass")                 # forward | backward | train
    data: str = "scatter"                       # scatter | local
    repeats: int = 3
    warmup: int = 1
    verify: bool = True
    verify_samples: int = 2
    checksum_images: int = 0    # checksum_ref covers images [0, checksum_images); 0: the batch
    decomp: str = "batch"       # batch | spatial
    backend: str = "convbench"  # convbench | torch | naive
    images: str | None = None   # a directory of PNG/JPEG files instead of synthetic images
    threads: int = 1            # threads per rank

    def to_json(self) -> dict:
        d = super().to_json()
        d["checksum_images"] = self.checksum_images or self.workload.batch
        return d


@dataclass
class StepTimes(Record):
    """One repeat on one rank (seconds): the whole step, its communication, each phase of
    convbench.workload.phases and the wait at the barriers."""

    time_s: float
    comm_s: float
    compute_s: float = 0.0
    scatter_s: float = 0.0
    halo_s: float = 0.0
    gather_s: float = 0.0
    allreduce_s: float = 0.0
    wait_s: float = 0.0
    t_wall: float = NAN         # time.time() on this rank when the repeat started
    cpu: int = -1               # the CPU this rank ran on when the repeat ended (-1: unknown)


@dataclass
class RankReport(Record):
    """One rank of a point: its share, its memory and its repeats."""

    rank: int
    host: str
    start: int                  # images [start, end) (spatial: the whole batch)
    end: int
    images: int
    rss_base_mb: float
    rss_peak_mb: float
    setup_s: float
    repeats: list[StepTimes]
    row_start: int | None = None    # spatial: output rows [row_start, row_end)
    row_end: int | None = None
    affinity: str = ""              # the CPUs this rank was allowed on, e.g. "0-1" ('' unknown)


@dataclass
class RankResult(Record):
    """What rank 0 writes to OUT: the ranks' reports and the verification."""

    procs: int
    batch: int
    ready_at: float             # time.time() once every rank had started (launch over)
    decomp: str
    backend: str
    output_shape: list[int]
    mpi_library: str
    mpi_version: str
    verified: bool
    verify_errors: list[str]
    idle_ranks: list[int]
    ranks: list[RankReport]
    checksum: float = NAN       # math.fsum of every output (or input-gradient) row sum
    checksum_ref: float = NAN   # the same over the images every point shares
    checksum_exact: bool = True
    checksum_abs: float | None = None   # sum |dx| where the checksum is not exact
    dw_checksum: float | None = None
    db_checksum: float | None = None
    dw: list[float] | None = None       # the whole-batch weight gradient (small layers)
    db: list[float] | None = None
    # where the point's wall time went on the ranks (rank 0's wall clock, stages between
    # barriers): see STAGES
    data_s: float = NAN         # every rank ready -> every rank has its data and buffers
    warmup_s: float = NAN       # the warm-up steps
    repeats_s: float = NAN      # the timed repeats, barriers between them included
    verify_s: float = NAN       # verification and the gather of the ranks' reports
    done_at: float = NAN        # time.time() on rank 0 just before it writes OUT
    #: the repeats' times, streamed by rank 0 as they end (one JSON line per repeat: a
    #: StepTimes per rank) into this file beside OUT; '' where they are in ranks[].repeats
    repeats_file: str = ""


# ---- the two tables ----------------------------------------------------------------------------
@dataclass
class RankRow(Record):
    """One row of ranks.csv: one repeat of one rank of one launch of one point."""

    procs: int
    launch: int                 # this point's launch: 0, 1, ... (every launch starts its ranks)
    round: int                  # the round it ran in (speedups pair P with the base by round)
    position: int               # its place in the sweep's order of launches: 0, 1, ...
    repeat: int
    rank: int
    host: str
    start: int
    end: int
    images: int
    time_s: float
    compute_s: float
    comm_s: float
    scatter_s: float
    halo_s: float
    gather_s: float
    allreduce_s: float
    wait_s: float
    rss_base_mb: float
    rss_peak_mb: float
    rss_data_mb: float
    t_wall: float = NAN         # time.time() on the rank when the repeat started
    cpu: int = -1               # the CPU the rank ran on when the repeat ended (-1: unknown)
    affinity: str = ""          # the CPUs the rank was allowed on ("0-1")


@dataclass
class LaunchRow(Record):
    """One row of launches.csv: one launch (one mpiexec) of one point."""

    procs: int
    launch: int
    round: int
    position: int
    started: float = NAN        # time.time() when mpiexec was started
    repeats: int = 0
    time_s: float = NAN         # median over its repeats of the max over ranks
    time_min_s: float = NAN
    time_max_s: float = NAN
    load_before: float = NAN    # 1-minute load average just before the launch
    load_after: float = NAN     # ... and just after it
    others_cores: float = NAN   # cores' worth of CPU other processes used during it (this host)
    governor: str = ""          # the CPU frequency governor(s), where readable
    boost: str = ""             # turbo / boost on or off, where readable
    launch_s: float = NAN
    data_s: float = NAN
    warmup_s: float = NAN
    repeats_s: float = NAN
    verify_s: float = NAN
    write_s: float = NAN
    wall_s: float = NAN
    checksum: float = NAN
    sampled: bool = False       # the reference check on sample images ran in this launch
    verified: bool = False
    status: str = "failed"
    reason: str = ""


@dataclass
class PointRow(Record):
    """One row of summary.csv: one point (NaN / empty where a failed point has no value)."""

    mode: str
    pass_: str = column("pass")
    data: str = ""
    procs: int = 0
    batch: int = 0
    images_per_rank: int = 0
    repeats: int = 0            # timed repeats per launch
    launches: int = 0           # launches whose repeats the point's figures pool
    time_s: float = NAN         # median over every repeat of every launch (max over ranks)
    time_min_s: float = NAN
    time_max_s: float = NAN
    time_lo_s: float = NAN      # the 95% confidence interval of time_s
    time_hi_s: float = NAN
    compute_s: float = NAN
    comm_s: float = NAN
    speedup: float = NAN
    speedup_lo: float = NAN     # 95% interval, P paired with the base within a round
    speedup_hi: float = NAN
    efficiency: float = NAN
    efficiency_lo: float = NAN
    efficiency_hi: float = NAN
    ci_note: str = ""           # why an interval is missing ('too few samples: ...')
    cv: float = NAN             # coefficient of variation of the repeats' times
    flags: str = ""             # noise flags, '; '-separated (never a reason to drop data)
    karp_flatt: float = NAN
    gflops: float = NAN
    gbs: float = NAN
    roofline_s: float = NAN
    roofline_frac: float = NAN
    bw_frac: float = NAN
    mem_total_mb: float = NAN
    mem_max_rank_mb: float = NAN
    mem_rank0_mb: float = NAN
    mem_data_mb: float = NAN
    mem_per_rank_mb: list[float] = field(default_factory=list)
    output_shape: str = ""
    checksum: float = NAN
    oversubscribed: bool = False
    idle_ranks: list[int] = field(default_factory=list)
    hosts: int | None = None
    launch_s: float = NAN
    data_s: float = NAN
    warmup_s: float = NAN
    repeats_s: float = NAN
    verify_s: float = NAN
    write_s: float = NAN
    wall_s: float = NAN
    stopped: str = ""           # why no more launches ran: launches, target, max-launches, budget, failed
    verified: bool = False
    status: str = "failed"
    reason: str = ""


#: where a point's wall time goes, in order (PointRow columns, seconds; their sum is wall_s up to
#: the engine's own bookkeeping): launch (mpiexec started -> every rank has Python, its imports
#: and MPI), data (-> every rank has its input and buffers), warm-up, the timed repeats,
#: verification, write (rank 0 writes its result, the ranks finalise MPI and exit)
STAGES = ("launch_s", "data_s", "warmup_s", "repeats_s", "verify_s", "write_s")
#: columns an older file of a readable version may lack: it loads with NaN in them (an empty
#: cell in text columns). Version 2 files lack the launch columns (one launch per point: the
#: reader takes launch and round 0) and, if written early, the stages.
LATER_COLUMNS = {
    "PointRow": STAGES[1:] + ("wall_s", "launches", "time_lo_s", "time_hi_s", "speedup_lo",
                              "speedup_hi", "efficiency_lo", "efficiency_hi", "ci_note", "cv",
                              "flags", "stopped"),
    "RankRow": ("launch", "round", "position", "t_wall", "cpu", "affinity"),
}


def later_columns(cls) -> tuple[str, ...]:
    """The columns of a table that an older file of a readable version may lack."""
    return LATER_COLUMNS.get(cls.__name__, ())


# ---- the manifest ------------------------------------------------------------------------------
@dataclass
class Manifest(Record):
    """manifest.json: how a sweep was run. ``sweep`` is the plan (engine.sweep.SweepPlan's
    to_dict), ``mpi`` and ``environment`` what the sweep found. The engine adds ``hosts``,
    ``slurm`` and the session fields as the sweep goes; keys it adds that are not fields here
    are kept as they are in ``extra`` (so a newer engine's additions survive a rewrite)."""

    schema_version: int = SCHEMA_VERSION
    command: list[str] = field(default_factory=list)
    started: str | None = None
    finished: str | None = None
    workload: dict = field(default_factory=dict)
    sweep: dict = field(default_factory=dict)
    mpi: dict = field(default_factory=dict)
    environment: dict = field(default_factory=dict)
    roofline: dict | None = None
    sessions: list[dict] = field(default_factory=list)
    hosts: dict | None = None           # host -> {P: ranks on that host}
    slurm: dict | None = None           # the Slurm job(s) that ran it
    network: dict | None = None         # the measured network: {"within": .., "between": ..}
    interrupted: bool | None = None
    points_done: list[int] | None = None
    point_times: dict | None = None     # str(P) -> {stage of STAGES and wall_s: seconds, summed over launches}
    stops: dict | None = None           # str(P) -> why the point's launches stopped (PointRow.stopped)
    noise: dict | None = None           # the machine before the sweep: load, cores, governor, boost, warning
    extra: dict = field(default_factory=dict)

    #: written even when empty; the fields after these only when set
    _ALWAYS = ("schema_version", "command", "started", "finished", "workload", "sweep", "mpi",
               "environment", "roofline", "sessions")

    @classmethod
    def from_json(cls, d: dict, where: str = "manifest.json") -> "Manifest":
        """A manifest of this layout or the previous one (no schema_version: version 1,
        convbench 0.1.0); a newer or unknown version is refused, naming it."""
        if not isinstance(d, dict):
            raise RecordError(f"{where} is not a JSON object")
        version = d.get("schema_version", 1)
        if version not in READABLE_VERSIONS:
            raise RecordError(
                f"{where} has schema_version {version!r}: written by another (newer?) convbench; "
                f"this one reads versions {', '.join(map(str, READABLE_VERSIONS))}")
        known = set(columns(cls)) - {"extra"}
        typed = {k: v for k, v in d.items() if k in known}
        typed["schema_version"] = version
        typed["extra"] = {k: v for k, v in d.items() if k not in known}
        return from_dict(cls, typed, where)

    def to_json(self) -> dict:
        """The JSON of this manifest as this convbench writes it (the current version)."""
        d = json_safe(self)
        d["schema_version"] = SCHEMA_VERSION
        extra = d.pop("extra")
        d = {k: v for k, v in d.items() if k in self._ALWAYS or v is not None}
        return {**d, **{k: v for k, v in extra.items() if k not in d}}


def stamp(manifest: dict) -> dict:
    """A manifest dict, checked, in the layout this convbench writes (schema_version first)."""
    return Manifest.from_json(manifest).to_json()
