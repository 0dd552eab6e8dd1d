"""The machine before a sweep: load, frequency policy, CPUs busy with other processes."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time

from convbench.engine import noise_probe


def test_a_quiet_machine_gets_no_warning():
    assert noise_probe.machine_warning(0.2, 2, {0: 0.05, 1: 0.3}) == ""
    assert noise_probe.machine_warning(float("nan"), 2, {}) == ""


def test_a_loaded_machine_gets_one_line_that_says_why():
    w = noise_probe.machine_warning(1.4, 2, {0: 0.1, 1: 0.93})
    assert "\n" not in w
    assert "load average 1.4 on 2 cores" in w and "CPU 1 93%" in w
    assert "CPU 0" not in w
    # the load average alone (a sweep that has just ended counts in it) warns of nothing
    assert noise_probe.machine_warning(3.0, 2, {0: 0.1, 1: 0.2}) == ""
    assert noise_probe.machine_warning(0.0, 4, {2: 0.5, 3: 1.0}).count("%") == 2


def test_machine_before_sweep_has_every_field_and_is_json():
    got = noise_probe.machine_before_sweep(2, interval=0.05)
    assert set(got) == {"load", "cores", "governor", "boost", "busy", "warning"}
    assert got["cores"] == 2 and isinstance(got["warning"], str)
    assert math.isnan(got["load"]) or got["load"] >= 0
    json.dumps(got)


def test_a_process_spinning_on_a_cpu_is_seen():
    cpu = max(os.sched_getaffinity(0))
    spin = subprocess.Popen([sys.executable, "-c", f"import os, time; os.sched_setaffinity(0, {{{cpu}}}); "
                             "t = time.time()\nwhile time.time() - t < 20: pass"])
    try:
        busy = noise_probe.busy_cpus(0.3)      # its start-up counts as busy too
        got = noise_probe.machine_before_sweep(len(os.sched_getaffinity(0)), interval=0.3)
    finally:
        spin.kill()
        spin.wait()
    assert busy[cpu] >= noise_probe.BUSY_CPU
    assert cpu in expand(got["busy"])
    assert f"CPU {cpu} " in got["warning"]


def expand(ranges: str) -> set[int]:
    out = set()
    for part in filter(None, ranges.split(",")):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def test_others_cores_sees_a_process_that_is_not_the_launch():
    """Between two marks, a spinning process that is not this process's finished child counts
    as another process's CPU; this process's own work does not."""
    import subprocess
    import sys
    before = noise_probe.Usage()
    spin = subprocess.Popen([sys.executable, "-c",
                             "import time\nt = time.time() + 1.0\nwhile time.time() < t: pass"])
    t = time.monotonic()
    while time.monotonic() - t < 1.0:       # this process is busy too: that is ours
        pass
    others = noise_probe.others_cores(before, noise_probe.Usage())
    spin.wait()
    assert others >= 0.3, others            # the spinner, still running: not yet our child's time


def test_a_process_knows_its_age():
    """The first look's budget counts the command's own start-up: host.process_age."""
    import subprocess
    import sys
    from convbench.core import host
    assert host.process_age() > 0.0          # this test process started a while ago
    code = "import time; time.sleep(0.3); from convbench.core import host; print(host.process_age())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 0.25 <= float(out.stdout) < 30
