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
