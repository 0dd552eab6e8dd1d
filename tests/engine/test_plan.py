"""The sweep plan's three parts: defaults in one place, the manifest round trip, the checks."""
from __future__ import annotations

import dataclasses
import json

import pytest

from convbench.cli.options import DEFAULT_PROCS, SweepOptions
from convbench.core.errors import UsageError
from convbench.engine import checks
from convbench.engine.plan import Measured, Placement, Policy, SweepPlan, parse_procs
from convbench.workload.spec import preset

TINY = preset("tiny")


def test_flat_keywords_go_to_the_part_that_has_them():
    plan = SweepPlan.of("weak", TINY, (1, 2), pass_="train", data="local", hostfile="h",
                        threads=2, repeats=5, fail_fast=True, out="o")
    assert plan.measured == Measured(TINY, pass_="train", data="local")
    assert plan.placement == Placement((1, 2), hostfile="h", threads=2)
    assert plan.policy == Policy(repeats=5, fail_fast=True)
    assert plan.out == "o" and plan.batch_at(2) == 2 * TINY.batch
    with pytest.raises(TypeError, match="'bogus'"):
        SweepPlan.of("strong", TINY, (1,), bogus=1)


def test_the_cli_defaults_are_the_plans():
    """The CLI's defaults are the plan's, but for a first look's budget (no --launches)."""
    import dataclasses
    from convbench.engine.plan import FIRST_LOOK_BUDGET
    procs = parse_procs(DEFAULT_PROCS)
    plan = SweepOptions().plan("strong", TINY, procs)
    default = SweepPlan("strong", Measured(TINY))
    assert plan == dataclasses.replace(default, policy=Policy(budget=FIRST_LOOK_BUDGET))
    assert SweepOptions(launches=Policy.launches).plan("strong", TINY, procs) == default


def test_the_manifest_round_trip_keeps_every_setting():
    plan = SweepPlan.of("weak", TINY, (1, 4), pass_="backward", data="local", decomp="spatial",
                        backend="naive", mpi_args=("--x", "1"), ppn=2, bind="core", threads=3,
                        repeats=2, warmup=0, timeout=9.5, verify=False, force=True, out="d")
    m = json.loads(json.dumps({"sweep": plan.to_dict(), "workload": TINY.to_dict(),
                               "mpi": {"mpiexec": None}}))
    assert m["sweep"]["per_rank"] == TINY.batch and m["sweep"]["pass"] == "backward"
    assert SweepPlan.from_manifest(m, out="d") == plan


def test_a_manifest_from_before_the_newer_settings_resumes_with_their_defaults():
    old = {"mode": "strong", "procs": [1, 2], "pass": "forward", "data": "scatter", "repeats": 3,
           "warmup": 1, "timeout": 1200.0, "verify": True, "hostfile": None, "mpi_args": [],
           "per_rank": None, "force": False, "fail_fast": False}
    m = {"sweep": old, "workload": TINY.to_dict(), "mpi": {"mpiexec": "/bin/mpiexec"}}
    plan = SweepPlan.from_manifest(m, out="x")
    assert plan.measured == Measured(TINY)
    assert plan.placement == Placement((1, 2), mpiexec="/bin/mpiexec")


@pytest.mark.parametrize("part, kw, needle", [
    ("measured", dict(pass_="sideways"), "--pass must be one of"),
    ("measured", dict(decomp="spatial"), "needs --data local"),
    ("measured", dict(backend="cuda"), "--backend must be one of"),
    ("placement", dict(procs=()), "--procs is empty"),
    ("placement", dict(procs=(2, 2)), "lists 2 more than once"),
    ("placement", dict(threads=0), "--threads must be an integer >= 1"),
    ("placement", dict(ppn=0), "--ppn must be >= 1"),
    ("policy", dict(repeats=0), "--repeats must be >= 1"),
    ("policy", dict(timeout=0.0), "--timeout must be > 0"),
])
def test_each_part_is_checked_on_its_own(part, kw, needle):
    plan = SweepPlan("strong", Measured(TINY), Placement((1,)), Policy())
    part_value = dataclasses.replace(getattr(plan, part), **kw)
    check = {"measured": checks.check_measured, "placement": checks.check_placement,
             "policy": checks.check_policy}[part]
    with pytest.raises(UsageError, match=needle):
        check(part_value)
    with pytest.raises(UsageError, match=needle):
        checks.validate(dataclasses.replace(plan, **{part: part_value}))


def test_the_memory_check_refuses_what_cannot_fit_unless_forced():
    huge = TINY.with_batch(10**8)        # about a terabyte: more than any test machine has
    plan = SweepPlan.of("strong", huge, (1,))
    with pytest.raises(UsageError, match="--force"):
        checks.validate(plan)
    checks.validate(dataclasses.replace(plan, policy=Policy(force=True)))


@pytest.mark.parametrize("data, suggests_local", [("scatter", True), ("local", False)])
def test_the_memory_check_never_suggests_an_option_already_given(data, suggests_local):
    plan = SweepPlan.of("strong", TINY.with_batch(10**8), (1,), data=data)
    with pytest.raises(UsageError) as e:
        checks.validate(plan)
    assert ("use --data local" in str(e.value)) == suggests_local
