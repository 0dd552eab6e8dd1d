"""The options strong, weak and run share, declared once.

:class:`SweepOptions` is both the declaration Typer reads (each field's annotation carries its
``typer.Option``, each default comes from the plan's parts in engine.plan) and the parsed value
a command receives. :func:`sweep_options` gives a command these options after its own.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import shlex
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from convbench.cli.common import Mpiexec
from convbench.core.errors import UsageError
from convbench.engine.plan import FIRST_LOOK_BUDGET, Measured, Placement, Policy, SweepPlan

# ---- the commands' own options (types shared, defaults per command) ----------------------------
Procs = Annotated[str, typer.Option("--procs", "-p", help="Comma-separated rank counts, e.g. 1,2,4,8.")]
DEFAULT_PROCS = ",".join(map(str, Placement.procs))
Batch = Annotated[Optional[int], typer.Option(help="Override the workload's batch size.")]


def _path_or_none(p: Path | None) -> str | None:
    return str(p) if p else None


@dataclass(frozen=True)
class SweepOptions:
    """The shared options of the sweep commands, as parsed."""

    preset: Annotated[Optional[str], typer.Option(help="Workload preset: fat, light, resnet, tiny (configs/).")] = None
    config: Annotated[Optional[Path], typer.Option(help="Workload TOML file (same keys as configs/*.toml); excludes --preset.")] = None
    pass_: Annotated[str, typer.Option("--pass", help="forward | backward | train (forward + backward + Allreduce of the weight gradient).")] = Measured.pass_
    data: Annotated[Optional[str], typer.Option(help=f"scatter: rank 0 holds the batch and Scatterv/Gatherv it (the original experiment); local: each rank makes its own shard. [default: {Measured.data}; local with --decomp spatial]", show_default=False)] = None
    repeats: Annotated[int, typer.Option(help="Timed repeats per launch; a point's time is the median of every repeat of its launches.")] = Policy.repeats
    warmup: Annotated[int, typer.Option(help="Untimed warm-up repeats at the start of every launch.")] = Policy.warmup
    launches: Annotated[Optional[int], typer.Option(help=f"Launches per point (each its own mpiexec, warm-up and repeats): the intervals come from the spread between launches; an interval needs 5. [default: {Policy.launches}, in rounds while they fit in {FIRST_LOOK_BUDGET:g} s from the command's start, unless --budget or --target-ci is given]", show_default=False)] = None
    order: Annotated[str, typer.Option(help="rounds: every P once per round, in a seeded random order (a slow spell hits all P alike); random: all launches shuffled; sequential: all launches of a P, then the next.")] = Policy.order
    order_seed: Annotated[Optional[int], typer.Option(help="Seed of the launch order (default: drawn, and recorded in the manifest).")] = Policy.order_seed
    target_ci: Annotated[Optional[float], typer.Option(help="Percent: after --launches rounds, more rounds for the P whose 95% interval (speedup; the base point's time) is wider than this share of its value, up to --max-launches and --budget.")] = Policy.target_ci
    max_launches: Annotated[Optional[int], typer.Option(help="With --target-ci: launches per point at most [default: 4 x --launches].", show_default=False)] = Policy.max_launches
    budget: Annotated[Optional[float], typer.Option(help=f"Seconds: no round after the first starts that would end this many seconds after the command started (its length guessed from the rounds so far). The stop is recorded per point. [default: {FIRST_LOOK_BUDGET:g} without --launches and --target-ci; else no limit]", show_default=False)] = Policy.budget
    out: Annotated[Path, typer.Option(help="Directory that receives one new sub-directory per sweep.")] = Path(SweepPlan.out)
    timeout: Annotated[float, typer.Option(help="Seconds a point may take before its ranks are killed and it is marked failed.")] = Policy.timeout
    hostfile: Annotated[Optional[Path], typer.Option(help="MPI hostfile (MPICH 'host:N' or Open MPI 'host slots=N').")] = None
    mpiexec: Mpiexec = Placement.mpiexec
    mpi_args: Annotated[str, typer.Option(help="Extra arguments for mpiexec, one string, e.g. \"--bind-to core\".")] = shlex.join(Placement.mpi_args)
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Skip the checks against the reference (faster for huge workloads); unverified points get no speedup.")] = not Policy.verify
    force: Annotated[bool, typer.Option(help="Run even if the memory estimate exceeds the available memory.")] = Policy.force
    fail_fast: Annotated[bool, typer.Option(help="Stop the sweep at the first failed point.")] = Policy.fail_fast
    seed: Annotated[Optional[int], typer.Option(help="Seed of the synthetic images and weights (default: the workload's).")] = None
    decomp: Annotated[str, typer.Option(help="batch: images over ranks; spatial: every image's rows over ranks, halo exchanged with Sendrecv (needs --data local; scales past P = batch).")] = Measured.decomp
    backend: Annotated[str, typer.Option(help="convbench (the C kernel) | torch (torch.nn.functional.conv2d, needs PyTorch) | naive (the textbook 7-loop C).")] = Measured.backend
    images: Annotated[Optional[Path], typer.Option(help="A directory of PNG/JPEG files: the batch is made of them (cropped/resized, cycled) instead of synthetic images.")] = None
    threads: Annotated[int, typer.Option(help="Threads per rank (hybrid MPI x threads).")] = Placement.threads
    ppn: Annotated[Optional[int], typer.Option(help="Ranks per node (with --hostfile): MPICH/Intel -ppn, Open MPI --map-by ppr:N:node.")] = Placement.ppn
    bind_to: Annotated[Optional[str], typer.Option("--bind-to", help="Bind ranks: core, socket, numa, none, ... (the vendor's flag; recorded in the manifest).")] = Placement.bind
    launcher: Annotated[str, typer.Option("--launcher", help="mpiexec | slurm: srun inside a Slurm allocation; outside one, submit the sweep as one sbatch job (job.sbatch in the sweep directory; read it with 'convbench collect DIR').")] = Placement.launcher
    resume: Annotated[Optional[Path], typer.Option(help="Continue the interrupted sweep in this directory with its recorded workload and settings: verified points are kept, the rest run. The launcher, --mpiexec, --mpi-args and --hostfile are this command line's (never the directory's); other options are ignored.")] = None

    def workload(self, default: str, batch: int | None, batch_flag: str = "--batch"):
        """The workload of --preset or --config (else the preset `default`), with its batch
        (strong/run the whole, weak per rank) and --seed applied."""
        from convbench.workload import spec as wl_mod
        if self.preset and self.config:
            raise UsageError("give --preset or --config, not both")
        wl = wl_mod.load_config(self.config) if self.config else wl_mod.preset(self.preset or default)
        if batch is not None:
            if batch < 1:
                raise UsageError(f"{batch_flag} must be >= 1, got {batch}")
            wl = wl.with_batch(batch)
        if self.seed is not None:
            if self.seed < 0:
                raise UsageError(f"--seed must be >= 0, got {self.seed}")
            wl = wl_mod.Workload.from_dict({**wl.to_dict(), "seed": self.seed})
        return wl

    def plan(self, mode: str, workload, procs: tuple[int, ...]) -> SweepPlan:
        try:
            mpi_args = tuple(shlex.split(self.mpi_args))
        except ValueError as e:
            raise UsageError(f"--mpi-args cannot be split: {e}") from None
        data = self.data or ("local" if self.decomp == "spatial" else Measured.data)
        measured = Measured(workload, pass_=self.pass_, data=data, decomp=self.decomp,
                            backend=self.backend, images=_path_or_none(self.images))
        placement = Placement(procs, launcher=self.launcher, mpiexec=self.mpiexec,
                              mpi_args=mpi_args, hostfile=_path_or_none(self.hostfile),
                              ppn=self.ppn, bind=self.bind_to, threads=self.threads)
        launches, budget = self.launches, self.budget
        if launches is None:        # a first look: the planned rounds while they fit the budget
            launches = Policy.launches
            if budget is None and self.target_ci is None:
                budget = FIRST_LOOK_BUDGET
        policy = Policy(repeats=self.repeats, warmup=self.warmup, timeout=self.timeout,
                        verify=not self.no_verify, force=self.force, fail_fast=self.fail_fast,
                        launches=launches, order=self.order, order_seed=self.order_seed,
                        target_ci=self.target_ci, max_launches=self.max_launches,
                        budget=budget)
        return SweepPlan(mode, measured, placement, policy, out=str(self.out))


def _shared_parameters(exclude: tuple[str, ...]) -> list[inspect.Parameter]:
    hints = typing.get_type_hints(SweepOptions, include_extras=True)
    return [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                              annotation=hints[f.name])
            for f in dataclasses.fields(SweepOptions) if f.name not in exclude]


def sweep_options(fn=None, *, exclude: tuple[str, ...] = ()):
    """Decorate fn(own options..., options: SweepOptions): the command Typer sees has fn's own
    options followed by every SweepOptions field but those in `exclude` (which keep their
    defaults); fn receives the shared ones as one SweepOptions."""
    if fn is None:
        return functools.partial(sweep_options, exclude=exclude)
    own = [p for p in inspect.signature(fn, eval_str=True).parameters.values()
           if p.name != "options"]
    own_names = {p.name for p in own}

    @functools.wraps(fn)
    def command(**kwargs):
        mine = {k: kwargs.pop(k) for k in own_names}
        return fn(**mine, options=SweepOptions(**kwargs))

    command.__signature__ = inspect.Signature(own + _shared_parameters(exclude))
    return command
