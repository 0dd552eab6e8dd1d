"""A sweep's plan in three parts, each with its defaults defined here and nowhere else.

* :class:`Measured` - what is measured: the workload, the pass, how the data reaches the ranks,
  how the work is split over them and which convolution runs;
* :class:`Placement` - where it runs: the rank counts, the launcher, hosts, ranks per node,
  binding and threads per rank;
* :class:`Policy` - how it is run: repeats, warm-up, time limit, verification, and what to do
  when memory is short or a point fails.

:class:`SweepPlan` holds the mode, the three parts and the output directory. Each step of a sweep
takes only the part it uses. The manifest's "sweep" dict keeps the keys it always had, so a
sweep written before resumes with :meth:`SweepPlan.from_manifest`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from convbench.core.errors import UsageError
from convbench.workload.spec import Workload

MODES = ("strong", "weak", "run")


@dataclass(frozen=True)
class Measured:
    """What every point measures (the workload's batch: strong/run the whole, weak per rank)."""

    workload: Workload
    pass_: str = "forward"              # forward | backward | train
    data: str = "scatter"               # scatter from rank 0 | local shards
    decomp: str = "batch"               # batch: images over ranks; spatial: rows over ranks
    backend: str = "convbench"          # convbench | torch | naive
    images: str | None = None           # PNG/JPEG directory instead of synthetic images

    def to_dict(self) -> dict:
        return {"pass": self.pass_, "data": self.data, "decomp": self.decomp,
                "backend": self.backend, "images": self.images}


@dataclass(frozen=True)
class Placement:
    """Where the points run."""

    procs: tuple[int, ...] = (1, 2, 4, 8)
    launcher: str = "mpiexec"           # mpiexec | slurm (srun in an allocation, else sbatch)
    mpiexec: str | None = None          # None: detected
    mpi_args: tuple[str, ...] = ()
    hostfile: str | None = None
    ppn: int | None = None              # ranks per node (with a hostfile)
    bind: str | None = None             # binding of ranks (core, socket, none, ...)
    threads: int = 1                    # threads per rank

    def to_dict(self) -> dict:
        return {"procs": list(self.procs), "hostfile": self.hostfile,
                "mpi_args": list(self.mpi_args), "threads": self.threads, "ppn": self.ppn,
                "bind": self.bind, "launcher": self.launcher}


#: seconds: the budget of a sweep given neither --launches, --budget nor --target-ci. A first
#: look answers in seconds: no round after the first starts that would end past it, so a
#: small workload still gets its 5 launches (and its intervals), and a large one (the default
#: fat sweep: a round of P = 1, 2, 4, 8 takes about 15 s on 2 cores) one launch per point, with
#: a line saying what intervals would take. --launches or --budget asks for more.
FIRST_LOOK_BUDGET = 10.0


@dataclass(frozen=True)
class Policy:
    """How each point is run and what the sweep does when something goes wrong.

    A point is `launches` launches (each its own mpiexec, warm-up and repeats), run in `order`:
    rounds (every P once per round, in a seeded random order), random (every launch of every P
    shuffled) or sequential (all launches of P, then the next P)."""

    repeats: int = 3                    # timed repeats per launch
    warmup: int = 1                     # untimed repeats before them, in every launch
    timeout: float | None = 1200.0      # seconds per launch (None: no limit)
    verify: bool = True                 # check against the reference
    force: bool = False                 # run even if the memory estimate exceeds the machine
    fail_fast: bool = False             # stop at the first failed launch
    launches: int = 5                   # launches per point (rounds)
    order: str = "rounds"               # rounds | random | sequential
    order_seed: int | None = None       # None: drawn at the start, then recorded
    target_ci: float | None = None      # percent: more rounds for the P whose interval is wider
    max_launches: int | None = None     # with target_ci: launches per point at most (None: 4 x launches)
    budget: float | None = None         # seconds: no round after the first starts that would end
                                        # past it (None: no limit)

    def to_dict(self) -> dict:
        return {"repeats": self.repeats, "warmup": self.warmup, "timeout": self.timeout,
                "verify": self.verify, "force": self.force, "fail_fast": self.fail_fast,
                "launches": self.launches, "order": self.order, "order_seed": self.order_seed,
                "target_ci": self.target_ci, "max_launches": self.max_launches,
                "budget": self.budget}

    @property
    def most_launches(self) -> int:
        """Launches a point may get: --launches, or with --target-ci up to --max-launches."""
        if self.target_ci is None:
            return self.launches
        return self.max_launches if self.max_launches is not None else 4 * self.launches


_PARTS = {"measured": Measured, "placement": Placement, "policy": Policy}


@dataclass(frozen=True)
class SweepPlan:
    """Everything a sweep needs, validated (engine.checks.validate) before anything is launched."""

    mode: str                           # strong | weak | run
    measured: Measured
    placement: Placement = Placement()
    policy: Policy = Policy()
    out: str = "results"                # directory that receives the sweep's directory

    @classmethod
    def of(cls, mode: str, workload: Workload, procs: tuple[int, ...], *, out: str | None = None,
           **fields) -> "SweepPlan":
        """A plan from flat keywords, each given to the part that has a field of its name
        (pass_=..., hostfile=..., repeats=...); the others keep their defaults."""
        kw: dict[str, dict] = {"measured": {"workload": workload}, "placement": {"procs": procs},
                               "policy": {}}
        for name, value in fields.items():
            part = next((p for p, c in _PARTS.items()
                         if name in {f.name for f in dataclasses.fields(c)}), None)
            if part is None:
                raise TypeError(f"SweepPlan.of() got an unexpected keyword {name!r}")
            kw[part][name] = value
        return cls(mode, Measured(**kw["measured"]), Placement(**kw["placement"]),
                   Policy(**kw["policy"]), **({"out": out} if out is not None else {}))

    @property
    def workload(self) -> Workload:
        """The workload as given: strong/run the whole batch, weak the batch per rank."""
        return self.measured.workload

    @property
    def procs(self) -> tuple[int, ...]:
        return self.placement.procs

    def batch_at(self, procs: int) -> int:
        return self.workload.batch * procs if self.mode == "weak" else self.workload.batch

    def workload_at(self, procs: int) -> Workload:
        return self.workload.with_batch(self.batch_at(procs))

    def points(self) -> list[tuple[int, Workload]]:
        """(P, the whole batch's workload at P) for every point, in order."""
        return [(p, self.workload_at(p)) for p in self.procs]

    def describe(self) -> str:
        return self.workload.describe() + (" per rank" if self.mode == "weak" else "")

    def to_dict(self) -> dict:
        """The manifest's "sweep" dict (its keys are read back by from_manifest)."""
        return {"mode": self.mode, **self.placement.to_dict(), **self.measured.to_dict(),
                **self.policy.to_dict(),
                "per_rank": self.workload.batch if self.mode == "weak" else None}

    @classmethod
    def from_manifest(cls, m: dict, out: str) -> "SweepPlan":
        """The plan a manifest recorded (keys missing in older manifests take the defaults)."""
        s = m["sweep"]
        measured = Measured(
            workload=Workload.from_dict(m["workload"]), pass_=s["pass"], data=s["data"],
            decomp=s.get("decomp", Measured.decomp), backend=s.get("backend", Measured.backend),
            images=s.get("images"))
        placement = Placement(
            procs=tuple(int(p) for p in s["procs"]), launcher=s.get("launcher", Placement.launcher),
            mpiexec=m["mpi"]["mpiexec"], mpi_args=tuple(s["mpi_args"]), hostfile=s["hostfile"],
            ppn=s.get("ppn"), bind=s.get("bind"), threads=int(s.get("threads", Placement.threads)))
        # a sweep written before launches (schema 1-2) ran one launch per P, in ascending order
        policy = Policy(
            repeats=int(s["repeats"]), warmup=int(s["warmup"]), timeout=s["timeout"],
            verify=bool(s["verify"]), force=bool(s["force"]), fail_fast=bool(s["fail_fast"]),
            launches=int(s.get("launches", 1)), order=s.get("order", "sequential"),
            order_seed=s.get("order_seed"), target_ci=s.get("target_ci"),
            max_launches=s.get("max_launches"), budget=s.get("budget"))
        return cls(s["mode"], measured, placement, policy, out)


def parse_procs(text: str) -> tuple[int, ...]:
    """'1,2,4,8' -> (1, 2, 4, 8); one clear error for anything else."""
    parts = [p.strip() for p in str(text).split(",")]
    if not any(parts):
        raise UsageError("--procs is empty: give process counts such as 1,2,4,8")
    out = []
    for p in parts:
        if not p:
            raise UsageError(f"--procs {text!r} has an empty entry")
        try:
            n = int(p)
        except ValueError:
            raise UsageError(f"--procs must be comma-separated integers, got {p!r}") from None
        if n < 1:
            raise UsageError(f"--procs must be positive, got {n}")
        if n in out:
            raise UsageError(f"--procs lists {n} more than once")
        out.append(n)
    return tuple(out)
