"""strong, weak and run share one declaration of the sweep options."""
from __future__ import annotations

import dataclasses

import typer.core
import typer.main

from convbench.cli import app
from convbench.cli.options import SweepOptions


def _options(command: str) -> set[str]:
    group = typer.main.get_command(app)
    cmd = group.commands[command]
    return {opt for p in cmd.params if isinstance(p, typer.core.TyperOption) for opt in p.opts}


SHARED = {"--preset", "--config", "--pass", "--data", "--repeats", "--warmup", "--out",
          "--timeout", "--hostfile", "--mpiexec", "--mpi-args", "--no-verify", "--force",
          "--fail-fast", "--seed", "--decomp", "--backend", "--images", "--threads", "--ppn",
          "--bind-to", "--launcher", "--resume", "--launches", "--order", "--order-seed",
          "--target-ci", "--max-launches", "--budget"}


def test_every_sweep_command_has_the_shared_options_and_its_own():
    assert len(dataclasses.fields(SweepOptions)) == len(SHARED)
    assert _options("strong") == SHARED | {"--procs", "-p", "--batch"}
    assert _options("weak") == SHARED | {"--per-rank", "--procs", "-p"}
    assert _options("run") == SHARED - {"--fail-fast"} | {"-n", "--procs", "--batch"}


def test_data_defaults_to_scatter_and_to_local_with_the_spatial_decomposition():
    from convbench.workload.spec import preset
    wl = preset("tiny")
    assert SweepOptions().plan("strong", wl, (1, 2)).measured.data == "scatter"
    assert SweepOptions(decomp="spatial").plan("strong", wl, (1, 2)).measured.data == "local"
    explicit = SweepOptions(decomp="spatial", data="scatter").plan("strong", wl, (1, 2))
    assert explicit.measured.data == "scatter"      # kept, and refused by the checks


def test_a_first_look_gets_the_planned_launches_within_the_default_budget():
    """No --launches, --budget or --target-ci: 5 launches in rounds while they fit in
    FIRST_LOOK_BUDGET seconds; any of the three asks for the measurement as given."""
    from convbench.engine.plan import FIRST_LOOK_BUDGET, Policy
    from convbench.workload.spec import preset
    wl = preset("tiny")

    def policy(**k):
        return SweepOptions(**k).plan("strong", wl, (1, 2)).policy

    assert (policy().launches, policy().budget) == (Policy.launches, FIRST_LOOK_BUDGET)
    assert (policy(launches=5).launches, policy(launches=5).budget) == (5, None)
    assert (policy(launches=2, budget=30.0).launches, policy(launches=2, budget=30.0).budget) == (2, 30.0)
    assert (policy(budget=60.0).launches, policy(budget=60.0).budget) == (Policy.launches, 60.0)
    assert policy(target_ci=5.0).budget is None and policy(target_ci=5.0).launches == Policy.launches
