"""What a rank records for the noise flags: when each repeat started (t_wall), the CPU it
ended on (cpu) and the CPUs the rank was allowed on (affinity); and the /proc readers behind
them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import MPI_TIMEOUT

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
from convbench.core import host
from convbench.results.records import PointSpec, RankResult
from convbench.workload.spec import preset


@pytest.mark.parametrize("cpus,text", [((), ""), ({0}, "0"), ({0, 1}, "0-1"), ({3, 0, 2}, "0,2-3"),
                                       ({1, 2, 3, 7, 9, 10}, "1-3,7,9-10")])
def test_cpu_ranges_are_compact(cpus, text):
    assert host.cpu_ranges(cpus) == text


@linux
def test_this_process_reads_its_cpu_and_affinity():
    allowed = os.sched_getaffinity(0)
    assert host.affinity() == host.cpu_ranges(allowed)
    assert host.current_cpu() in allowed


@linux
def test_the_cpu_follows_a_pinned_process():
    # a child pinned to one CPU must report that CPU
    cpu = max(os.sched_getaffinity(0))
    code = (f"import os; os.sched_setaffinity(0, {{{cpu}}}); "
            "from convbench.core.host import current_cpu, affinity; print(current_cpu(), affinity())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == [str(cpu), str(cpu)]


@linux
def test_a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields():
    # field 2 of /proc/self/stat is the command name in parentheses; it may hold ") ("
    cpu = min(os.sched_getaffinity(0))
    code = ("import ctypes, os; ctypes.CDLL(None).prctl(15, b'a) (b c', 0, 0, 0); "
            f"os.sched_setaffinity(0, {{{cpu}}}); from convbench.core.host import current_cpu; "
            "print(open('/proc/self/comm').read().strip(), '|', current_cpu())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split("|")[0].strip() == "a) (b c"
    assert out.stdout.split("|")[1].strip() == str(cpu)


def _cpus(ranges: str) -> list[int]:
    out = []
    for part in ranges.split(","):
        lo, _, hi = part.partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out


@pytest.mark.mpi
@pytest.mark.parametrize("procs", [1, 2])
def test_every_repeat_has_its_start_time_and_cpu_and_every_rank_its_affinity(tmp_path, mpi, procs):
    spec = PointSpec(workload=preset("tiny"), procs=procs, pass_="forward", data="local",
                     repeats=3, warmup=1)
    spec_path, out_path = tmp_path / "spec.json", tmp_path / "result.json"
    spec_path.write_text(json.dumps(spec.to_json()))
    argv = mpi.command(procs, [sys.executable, "-m", "convbench.rank.worker", str(spec_path),
                               str(out_path)], oversubscribe=True)
    before = time.time()
    subprocess.run(argv, env={**os.environ, **mpi.env(), "OMP_NUM_THREADS": "1"}, check=True,
                   timeout=MPI_TIMEOUT, capture_output=True)
    after = time.time()
    result = RankResult.from_json(json.loads(out_path.read_text()))
    # the repeats are streamed beside OUT (engine.point.read_repeats reads them back)
    from convbench.engine.point import read_repeats
    streamed = read_repeats(tmp_path / result.repeats_file, procs, 3)
    for r in result.ranks:
        r.repeats = streamed[r.rank]
    allowed = set(range(os.cpu_count() or 1))
    assert sorted(r.rank for r in result.ranks) == list(range(procs))
    for r in result.ranks:
        assert r.affinity and r.affinity == r.affinity.strip()
        assert len(r.repeats) == 3
        starts = [s.t_wall for s in r.repeats]
        assert before < starts[0] < starts[1] < starts[2] < after
        # consecutive starts are at least one timed step apart
        for s, nxt in zip(r.repeats, starts[1:]):
            assert nxt - s.t_wall >= s.time_s - 1e-3
        assert all(s.cpu in allowed for s in r.repeats)
        assert set(_cpus(r.affinity)) <= allowed
    # every rank started a repeat at the same barrier: their t_wall agree (one host, one clock)
    for i in range(3):
        ts = [r.repeats[i].t_wall for r in result.ranks]
        assert max(ts) - min(ts) < 0.5
