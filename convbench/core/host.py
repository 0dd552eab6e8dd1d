"""Facts about the host this process runs on: CPU model, usable cores, available memory; and
what makes it noisy: the CPU a process is on and may run on, the load, the frequency policy.

One place for them: the manifest, the roofline cache, the launcher's slot count and the memory
check all read these; the ranks read current_cpu and affinity, the sweep load_average and
cpu_frequency (engine/noise_probe.py).
"""
from __future__ import annotations

import os


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else platform.processor()."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform         # only here: the ranks import this module
    return platform.processor() or platform.machine() or "unknown"


def core_count() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def mem_available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (None where unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


# -- what a noisy machine looks like: the rank's CPU, its CPU set, the load, the CPU frequency --

def current_cpu() -> int:
    """The CPU this process last ran on: field 39 ("processor") of /proc/self/stat (-1 where
    unreadable). One small read; the command name (field 2) may hold spaces and parentheses,
    so the fields are counted after its closing parenthesis."""
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read(4096)
        return int(stat[stat.rindex(b")") + 1:].split()[39 - 3])
    except (OSError, ValueError, IndexError):
        return -1


def cpu_ranges(cpus) -> str:
    """A set of CPU numbers as compact ranges: {0, 2, 3} -> "0,2-3" ('' for none)."""
    parts, run = [], []
    for c in sorted(set(cpus)):
        if run and c == run[-1] + 1:
            run.append(c)
            continue
        if run:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [c]
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(parts)


def affinity() -> str:
    """The CPUs this process may run on (os.sched_getaffinity) as ranges, e.g. "0-1" ('' where
    unavailable)."""
    try:
        return cpu_ranges(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return ""


def load_average() -> float:
    """The 1-minute load average (NaN where unknown)."""
    try:
        return float(os.getloadavg()[0])
    except (OSError, AttributeError):  # pragma: no cover - no getloadavg
        return float("nan")


#: where Linux tells the CPU frequency policy
CPU_SYSFS = "/sys/devices/system/cpu"
_MAX_CPUS = 4096        # a bound on the per-CPU files read


def _small_text(path: str) -> str:
    """The first line of a small sysfs file, printable and short ('' where unreadable)."""
    try:
        with open(path, "rb") as f:
            text = f.read(64).decode("ascii", "replace").splitlines()
    except OSError:
        return ""
    line = text[0].strip() if text else ""
    return line if line.isprintable() and len(line) <= 32 else ""


def cpu_frequency(root: str = CPU_SYSFS) -> dict:
    """The frequency policy of this machine: ``governor`` (the distinct scaling governors of
    its CPUs, joined with ",") and ``boost`` ("on" / "off", from cpufreq/boost or
    intel_pstate/no_turbo); '' where not readable. Never raises."""
    governors = set()
    try:
        names = sorted(n for n in os.listdir(root) if n.startswith("cpu") and n[3:].isdigit())
    except OSError:
        names = []
    for name in names[:_MAX_CPUS]:
        if g := _small_text(os.path.join(root, name, "cpufreq", "scaling_governor")):
            governors.add(g)
    boost = {"1": "on", "0": "off"}.get(_small_text(os.path.join(root, "cpufreq", "boost")), "")
    if not boost:
        no_turbo = _small_text(os.path.join(root, "intel_pstate", "no_turbo"))
        boost = {"0": "on", "1": "off"}.get(no_turbo, "")
    return {"governor": ",".join(sorted(governors)), "boost": boost}


def process_age() -> float:
    """Seconds since this process started (Linux: /proc/self/stat against /proc/uptime, both
    since boot), so that a command's time budget counts its own start-up too; 0.0 where
    unknown."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            stat = f.read()
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        # the fields after the command name (which may hold spaces and parentheses)
        fields = stat[stat.rindex(")") + 2:].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")   # field 22: starttime
    except (OSError, ValueError, IndexError):
        return 0.0
    return max(0.0, uptime - started)
