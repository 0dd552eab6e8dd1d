"""core/host.py's readers of a noisy machine: the load average and the CPU frequency policy."""
from __future__ import annotations

import math

import pytest

from convbench.core import host


def sysfs(root, governors=(), boost=None, no_turbo=None):
    """A directory laid out like /sys/devices/system/cpu."""
    for i, g in enumerate(governors):
        d = root / f"cpu{i}" / "cpufreq"
        d.mkdir(parents=True)
        if g is not None:
            (d / "scaling_governor").write_text(g + "\n")
    (root / "cpuidle").mkdir(parents=True, exist_ok=True)      # not a CPU
    if boost is not None:
        (root / "cpufreq").mkdir(exist_ok=True)
        (root / "cpufreq" / "boost").write_text(boost + "\n")
    if no_turbo is not None:
        (root / "intel_pstate").mkdir()
        (root / "intel_pstate" / "no_turbo").write_text(no_turbo + "\n")
    return str(root)


@pytest.mark.parametrize("governors,boost,no_turbo,want", [
    (("performance", "performance"), "1", None, {"governor": "performance", "boost": "on"}),
    (("powersave", "performance", None), "0", None, {"governor": "performance,powersave", "boost": "off"}),
    (("schedutil",), None, "1", {"governor": "schedutil", "boost": "off"}),
    (("schedutil",), None, "0", {"governor": "schedutil", "boost": "on"}),
    ((), None, None, {"governor": "", "boost": ""}),
    (("x" * 200,), "maybe", None, {"governor": "", "boost": ""}),      # not a governor's name
])
def test_cpu_frequency_reads_governors_and_boost(tmp_path, governors, boost, no_turbo, want):
    assert host.cpu_frequency(sysfs(tmp_path / "cpu", governors, boost, no_turbo)) == want


def test_cpu_frequency_of_a_missing_tree_is_empty_not_an_error(tmp_path):
    assert host.cpu_frequency(str(tmp_path / "absent")) == {"governor": "", "boost": ""}


def test_cpu_frequency_of_this_machine_is_text():
    got = host.cpu_frequency()
    assert set(got) == {"governor", "boost"}
    assert all(isinstance(v, str) and v.isprintable() for v in got.values())
    assert got["boost"] in ("", "on", "off")


def test_load_average_is_the_one_minute_figure():
    load = host.load_average()
    assert math.isnan(load) or load >= 0
    with open("/proc/loadavg", encoding="ascii") as f:
        assert abs(load - float(f.read().split()[0])) < 0.5     # it may move between the reads
