"""Refuse a plan that cannot run, before anything is launched, with one line saying why.

The checks follow the plan's parts: :func:`check_measured`, :func:`check_placement`,
:func:`check_policy`, then :func:`check_memory` for the points together. Every refusal is a
UsageError (exit status 2).
"""
from __future__ import annotations

from convbench.core import host
from convbench.core.errors import UsageError
from convbench.engine import launcher as launch
from convbench.engine.plan import MODES, Measured, Placement, Policy, SweepPlan
from convbench.workload import cost
from convbench.workload.spec import DATA_MODES, PASSES, Workload

LAUNCHERS = ("mpiexec", "slurm")
DECOMPS = ("batch", "spatial")
BACKENDS = ("convbench", "torch", "naive")
ORDERS = ("rounds", "random", "sequential")
#: launches per point at most (a point directory's lNNN folders)
MAX_LAUNCHES = 999


def validate(plan: SweepPlan) -> None:
    """Every check of a plan; the memory check unless the policy says --force."""
    if plan.mode not in MODES:
        raise UsageError(f"unknown mode {plan.mode!r}")
    check_placement(plan.placement)
    check_policy(plan.policy)
    check_measured(plan.measured)
    points = plan.points()                    # raises if a weak batch gets too large
    if not plan.policy.force:
        check_memory(plan.measured, points, spread=bool(plan.placement.hostfile))


def check_measured(m: Measured) -> None:
    """Pass, data, decomposition, backend and image directory: usable before anything runs."""
    if m.pass_ not in PASSES:
        raise UsageError(f"--pass must be one of {', '.join(PASSES)}, got {m.pass_!r}")
    if m.data not in DATA_MODES:
        raise UsageError(f"--data must be one of {', '.join(DATA_MODES)}, got {m.data!r}")
    if m.decomp not in DECOMPS:
        raise UsageError(f"--decomp must be one of {', '.join(DECOMPS)}, got {m.decomp!r}")
    if m.decomp == "spatial" and m.data != "local":
        raise UsageError("--decomp spatial splits every image's rows over the ranks and needs "
                         "--data local (each rank makes its own rows)")
    if m.backend not in BACKENDS:
        raise UsageError(f"--backend must be one of {', '.join(BACKENDS)}, got {m.backend!r}")
    if m.backend == "torch":
        import importlib.util
        if importlib.util.find_spec("torch") is None:
            raise UsageError("--backend torch needs PyTorch in this Python: "
                             "pip install 'convbench[torch]' (torch==2.13.0)")
    if m.images:
        from convbench.workload import images
        wl = m.workload
        images.check_files(m.images, wl.height, wl.width)   # every file, none decoded
        images.load_batch(m.images, 0, 1, wl.c_in, wl.height, wl.width)   # raises if unusable


def check_placement(pl: Placement) -> None:
    """Rank counts, launcher, hostfile, ranks per node, binding and threads."""
    if not pl.procs:
        raise UsageError("--procs is empty: give process counts such as 1,2,4,8")
    bad = [p for p in pl.procs if p < 1]
    if bad:
        raise UsageError(f"--procs must be positive, got {bad[0]}")
    dup = sorted({p for p in pl.procs if pl.procs.count(p) > 1})
    if dup:
        raise UsageError(f"--procs lists {dup[0]} more than once")
    if pl.ppn is not None and (isinstance(pl.ppn, bool) or pl.ppn < 1):
        raise UsageError(f"--ppn must be >= 1, got {pl.ppn}")
    if pl.bind is not None and not pl.bind.replace("-", "").replace(":", "").isalnum():
        raise UsageError(f"--bind-to {pl.bind!r} is not a binding (core, socket, numa, none, ...)")
    if isinstance(pl.threads, bool) or not isinstance(pl.threads, int) or pl.threads < 1:
        raise UsageError(f"--threads must be an integer >= 1, got {pl.threads!r}")
    if pl.launcher not in LAUNCHERS:
        raise UsageError(f"--launcher must be one of {', '.join(LAUNCHERS)}, got {pl.launcher!r}")
    if pl.launcher == "slurm" and pl.hostfile:
        raise UsageError("--hostfile is for mpiexec: with --launcher slurm the allocation decides the hosts")
    if pl.hostfile:
        launch.hostfile_slots(pl.hostfile)          # raises if missing or unreadable


def check_policy(po: Policy) -> None:
    """Repeats, warm-up and time limit."""
    if po.repeats < 1:
        raise UsageError(f"--repeats must be >= 1, got {po.repeats}")
    if po.warmup < 0:
        raise UsageError(f"--warmup must be >= 0, got {po.warmup}")
    if po.timeout is not None and not po.timeout > 0:
        raise UsageError(f"--timeout must be > 0 seconds, got {po.timeout}")
    if isinstance(po.launches, bool) or not isinstance(po.launches, int) or po.launches < 1:
        raise UsageError(f"--launches must be an integer >= 1, got {po.launches!r}")
    if po.launches > MAX_LAUNCHES:
        raise UsageError(f"--launches must be at most {MAX_LAUNCHES}, got {po.launches}")
    if po.order not in ORDERS:
        raise UsageError(f"--order must be one of {', '.join(ORDERS)}, got {po.order!r}")
    if po.order_seed is not None and (isinstance(po.order_seed, bool) or not isinstance(po.order_seed, int)
                                      or not 0 <= po.order_seed < 2**63):
        raise UsageError(f"--order-seed must be an integer in [0, 2^63), got {po.order_seed!r}")
    if po.target_ci is not None and not (0 < po.target_ci < 100):
        raise UsageError(f"--target-ci is a percentage of the value, in (0, 100), got {po.target_ci}")
    if po.max_launches is not None:
        if po.target_ci is None:
            raise UsageError("--max-launches bounds the extra rounds of --target-ci: give --target-ci too")
        if isinstance(po.max_launches, bool) or not isinstance(po.max_launches, int) \
                or not po.launches <= po.max_launches <= MAX_LAUNCHES:
            raise UsageError(f"--max-launches must be an integer from --launches ({po.launches}) "
                             f"to {MAX_LAUNCHES}, got {po.max_launches!r}")
    if po.budget is not None and not (po.budget > 0 and po.budget < float("inf")):
        raise UsageError(f"--budget must be a number of seconds > 0, got {po.budget}")


def check_memory(m: Measured, points: list[tuple[int, Workload]], *, spread: bool) -> None:
    """Refuse points whose buffers would not fit in this machine's available memory.
    spread: the ranks are spread over the hosts of a hostfile, so only rank 0's share is here."""
    avail = host.mem_available_bytes()
    if not avail:
        return
    for p, wl in points:
        if spread:
            need = wl.memory_per_rank(m.pass_, m.data, p)[0]
        else:
            need = wl.memory_total(m.pass_, m.data, p)
        need += (1 if spread else p) * cost.RANK_BASE_BYTES    # Python, numpy, MPI
        if need > 0.9 * avail:
            raise UsageError(
                f"P={p} needs about {need / 2**30:.1f} GiB ({wl.describe()}, {m.pass_}, "
                f"{m.data}) but this machine has {avail / 2**30:.1f} GiB available; "
                f"lower --batch/--per-rank, "
                + ("use --data local, " if m.data != "local" else "")    # never one given
                + "or pass --force")
