"""Is the machine quiet enough to measure on? What the sweep records around its launches.

Per launch the sweep records :func:`load_average` before and after, and :func:`cpu_frequency`
(governor, boost) in launches.csv; once, before the first launch, :func:`machine_before_sweep`
goes into the manifest ("noise") and its ``warning``, where there is one, is printed. The
readers themselves are core/host.py's (defined there once); this module adds the one probe
that waits: how busy each CPU is over a short interval (/proc/stat), while this process sleeps.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping

from convbench.core.host import cpu_frequency, cpu_ranges, load_average

__all__ = ["load_average", "cpu_frequency", "busy_cpus", "machine_warning", "machine_before_sweep",
           "Usage", "others_cores"]

#: the share of an interval a CPU ran other work at or above which it counts as busy
BUSY_CPU = 0.5
#: how long machine_before_sweep watches the CPUs (seconds)
INTERVAL_S = 0.5


def _cpu_ticks() -> dict[int, tuple[int, int]]:
    """CPU -> (busy ticks, all ticks) from /proc/stat; {} where unreadable."""
    out = {}
    try:
        with open("/proc/stat", encoding="ascii", errors="replace") as f:
            lines = f.read(1 << 20).splitlines()
    except OSError:
        return out
    for line in lines:
        name, *fields = line.split()[:11] or [""]
        if not (name.startswith("cpu") and name[3:].isdigit()):
            continue
        try:
            ticks = [int(v) for v in fields[:8]]    # user nice system idle iowait irq softirq steal
        except ValueError:
            continue
        if len(ticks) >= 4:
            idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
            out[int(name[3:])] = (sum(ticks) - idle, sum(ticks))
    return out


def busy_cpus(interval: float = INTERVAL_S) -> dict[int, float]:
    """CPU -> the share of ``interval`` seconds it was busy, for the CPUs this process may run
    on, measured while this process sleeps (so the work is another process's); {} where
    /proc/stat is not readable."""
    try:
        allowed = os.sched_getaffinity(0)
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return {}
    first = _cpu_ticks()
    if not first:
        return {}
    time.sleep(interval)
    second = _cpu_ticks()
    out = {}
    for cpu in sorted(allowed & first.keys() & second.keys()):
        busy = second[cpu][0] - first[cpu][0]
        total = second[cpu][1] - first[cpu][1]
        if total > 0:
            out[cpu] = min(1.0, max(0.0, busy / total))
    return out


def machine_warning(load: float, cores: int, busy: Mapping[int, float]) -> str:
    """One line when the machine is busy before the sweep ('' when it is quiet): a CPU busy
    with another process for at least BUSY_CPU of the interval. The 1-minute load average is
    named with it but does not decide alone: it still counts a sweep that has just ended (an
    oversubscribed point leaves a load of 3 on 2 cores for a minute)."""
    hot = {c: b for c, b in busy.items() if b >= BUSY_CPU}
    if not hot:
        return ""
    shares = ", ".join(f"CPU {c} {b:.0%}" for c, b in sorted(hot.items()))
    why = f"other processes busy: {shares}"
    if math.isfinite(load) and cores > 0:
        why += f"; load average {load:.1f} on {cores} core{'s' if cores != 1 else ''}"
    return f"the machine is busy at the start ({why}): its figures may be noisy"


def machine_before_sweep(cores: int, interval: float = INTERVAL_S) -> dict:
    """What the manifest records once, before the first launch: ``load`` (1-minute load
    average, NaN if unknown), ``cores``, ``governor``, ``boost`` ('' where unreadable),
    ``busy`` (the CPUs another process kept busy, as ranges) and ``warning`` (one line, '' when
    the machine is quiet). Takes ``interval`` seconds; never raises."""
    load = load_average()
    busy = busy_cpus(interval)
    return {"load": load, "cores": cores, **cpu_frequency(),
            "busy": cpu_ranges(c for c, b in busy.items() if b >= BUSY_CPU),
            "warning": machine_warning(load, cores, busy)}


# ---- during a launch: the CPU other processes took ------------------------------------------------
class Usage:
    """A mark of this host's busy CPU time (/proc/stat, every CPU) and of the CPU time this
    process's finished children used (os.times: mpiexec and every rank it waited for). Between
    two marks around a launch, the busy time that was not the launch's is another process's:
    :func:`others_cores`."""

    def __init__(self) -> None:
        ticks = _cpu_ticks()
        self.busy_s = sum(b for b, _ in ticks.values()) / _HZ if ticks else math.nan
        t = os.times()
        self.children_s = t.children_user + t.children_system
        self.self_s = t.user + t.system
        self.at = time.monotonic()


_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def others_cores(before: Usage, after: Usage) -> float:
    """The cores' worth of CPU that processes other than this one and the launch used between
    the two marks, on this host (NaN where /proc/stat is unreadable): 1.0 is one core kept
    busy by something else the whole time. Ranks on other hosts are not seen (nor charged)."""
    wall = after.at - before.at
    if not (wall > 0) or math.isnan(before.busy_s) or math.isnan(after.busy_s):
        return math.nan
    mine = (after.children_s - before.children_s) + (after.self_s - before.self_s)
    return max(0.0, (after.busy_s - before.busy_s - mine) / wall)
