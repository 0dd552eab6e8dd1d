"""Results directories for the plot/report/compare tests: built by hand (edge cases) or by a
few real tiny sweeps made once per test session (shared by every test module)."""
from __future__ import annotations

import atexit
import csv
import functools
import io
import json
import shutil
import tempfile
from pathlib import Path

from conftest import note_mpi
from convbench.reporting import stats
from convbench.results import store
from convbench.engine import sweep
from convbench.workload.spec import preset

TINY = preset("tiny")


def manifest(mode="strong", workload="tiny", batch=16, library="MPICH Version: 4.2.0",
             host="node1", slots=2, pass_="forward", data="scatter", repeats=3, **wl) -> dict:
    return {
        "command": ["convbench", mode],
        "workload": {"name": workload, "batch": batch, "c_in": 2, "c_out": 3, "height": 24,
                     "width": 20, "kh": 3, "kw": 2, "stride_h": 1, "stride_w": 1, "pad_h": 1,
                     "pad_w": 1, "seed": 0, "description": "hand-made", **wl},
        "sweep": {"mode": mode, "pass": pass_, "data": data, "repeats": repeats},
        "mpi": {"mpiexec": "mpiexec", "vendor": "MPICH", "launcher_version": "HYDRA",
                "library": library, "slots": slots},
        "environment": {"hostname": host, "cpu_model": "Test CPU", "cores_available": slots},
    }


def point(p: int, times, *, mode="strong", status="ok", verified=True, over=False, reason="",
          batch=16) -> tuple[dict, list[dict]]:
    """A summary row (before scaling) and its rank rows: repeat i's slowest rank is rank 0
    with times[i]; the other ranks are 10 % faster. No times: a failed point, no rank rows."""
    row = {"mode": mode, "pass": "forward", "data": "scatter", "procs": p, "batch": batch,
           "images_per_rank": -(-batch // p), "repeats": len(times), "output_shape": "16x3x24x21",
           "oversubscribed": over, "verified": verified, "status": status, "reason": reason}
    if not times:
        return row, []
    ranks = []
    for i, t in enumerate(times):
        for r in range(p):
            tr = t if r == 0 else 0.9 * t
            ranks.append({"procs": p, "repeat": i, "rank": r, "host": "node1", "start": 0, "end": 1,
                          "images": 1, "time_s": tr, "compute_s": 0.6 * tr, "comm_s": 0.3 * tr,
                          "scatter_s": 0.2 * tr, "halo_s": 0.0, "gather_s": 0.1 * tr, "allreduce_s": 0.0,
                          "wait_s": 0.1 * tr, "rss_base_mb": 40.0, "rss_peak_mb": 60.0 + 10 * (r == 0),
                          "rss_data_mb": 20.0 + 10 * (r == 0)})
    peaks = [70.0] + [60.0] * (p - 1)
    row.update(time_s=stats.median(times), time_min_s=min(times), time_max_s=max(times),
               compute_s=0.6 * stats.median(times), comm_s=0.3 * stats.median(times),
               mem_total_mb=sum(peaks), mem_max_rank_mb=max(peaks), mem_rank0_mb=peaks[0],
               mem_per_rank_mb=peaks)
    return row, ranks


def launched(pt: tuple[dict, list[dict]], launches: int = 5, **columns) -> tuple[dict, list[dict]]:
    """point(...) as a sweep of launches writes it (schema 3): `launches` per point and the
    given interval, note, flag and stop columns (time_lo_s=.., speedup_lo=.., ci_note=..,
    flags=.., stopped=..); build() fills speedup and efficiency and keeps these."""
    row, ranks = pt
    return {**row, "launches": launches, **columns}, ranks


#: the headers convbench 0.1.0 wrote
OLD_SUMMARY = ("mode,pass,data,procs,batch,images_per_rank,repeats,time_s,time_min_s,time_max_s,"
               "compute_s,comm_s,speedup,efficiency,karp_flatt,gflops,gbs,roofline_s,"
               "roofline_frac,bw_frac,mem_total_mb,mem_max_rank_mb,mem_rank0_mb,mem_data_mb,"
               "mem_per_rank_mb,output_shape,checksum,oversubscribed,idle_ranks,hosts,launch_s,"
               "verified,status,reason")
OLD_RANKS = ("procs,repeat,rank,host,start,end,images,time_s,compute_s,comm_s,scatter_s,halo_s,"
             "gather_s,allreduce_s,wait_s,rss_base_mb,rss_peak_mb,rss_data_mb")


def old_sweep(d: Path) -> Path:
    """A sweep as convbench 0.1.0 wrote it (schema 1: no version, none of the later columns),
    P = 1, 2 with three repeats each."""
    d = build(d, [point(1, [1.0, 1.1, 0.9]), point(2, [0.6, 0.55, 0.62])])
    for name, header in ((store.SUMMARY, OLD_SUMMARY), (store.RANKS, OLD_RANKS)):
        rows = list(csv.DictReader(io.StringIO((d / name).read_text())))
        out = io.StringIO()
        w = csv.DictWriter(out, header.split(","), extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        (d / name).write_text(out.getvalue())
    assert "schema_version" not in json.loads((d / "manifest.json").read_text())
    return d


def build(d: Path, points: list, mode: str = "strong", **man) -> Path:
    """A results directory with a manifest and both tables (scaling by stats.add_scaling)."""
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    store.write_json(d / store.MANIFEST, manifest(mode=mode, **man))
    rows = stats.add_scaling([r for r, _ in points], mode)
    store.write_csv(d / store.SUMMARY, rows, store.SUMMARY_COLUMNS)
    store.write_csv(d / store.RANKS, [x for _, rr in points for x in rr], store.RANK_COLUMNS)
    return d


@functools.lru_cache(maxsize=None)
def _session_dir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="convbench-report-tests-"))
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    return d


def real_sweep(data: str = "scatter") -> Path:
    """A real tiny strong sweep (P = 1, 2, 2 repeats), made once per session per data mode;
    both live in one parent directory (a directory of sweeps). Every caller counts as starting
    mpiexec (the tests that use it are marked mpi), made or cached."""
    note_mpi(f"real_sweep({data!r})")
    return _real_sweep(data)


@functools.lru_cache(maxsize=None)
def _real_sweep(data: str) -> Path:
    res = sweep.run(sweep.SweepPlan.of(mode="strong", workload=TINY, procs=(1, 2), data=data, launches=1, order="sequential",
                                       repeats=2, warmup=0, timeout=120,
                                       out=str(_session_dir() / "sweeps")), argv=["test"])
    assert not res.failed, res.rows
    return res.path


def synthetic(d: Path, mode: str = "strong", procs=(1, 2, 4, 8), t1: float = 10.0,
              s: float = 0.05, latency: float = 0.0, bandwidth: float = float("inf"),
              noise: float = 0.0, data: str = "local", pass_: str = "forward", seed: int = 0,
              over=(), batch: int = 16, repeats: int = 3) -> Path:
    """A sweep that follows a known scaling law exactly (Amdahl for strong, Gustafson for
    weak, see convbench.reporting.scaling) plus c(P) = latency + bytes(P) / bandwidth, each repeat's time
    and the communication times multiplied by (1 + noise * N(0, 1)). `over`: the P marked
    oversubscribed."""
    import numpy as np

    from convbench.reporting import scaling as model
    from convbench.workload.spec import Workload

    rng = np.random.default_rng(seed)
    man = manifest(mode=mode, data=data, pass_=pass_, batch=batch, repeats=repeats, slots=max(procs))
    wl = Workload.from_dict(man["workload"])
    pts = []
    for p in procs:
        b = batch * p if mode == "weak" else batch
        nbytes = model.comm_bytes(wl, pass_, data, p, b)
        comm = 0.0 if nbytes == 0 and data == "local" and pass_ != "train" else \
            latency + nbytes / bandwidth
        law = model.ScalingFit("amdahl" if mode == "strong" else "gustafson", s, 0, t1, 0, True, 0, "")
        total = law.time(p) + comm
        times = [total * (1 + noise * rng.standard_normal()) for _ in range(repeats)]
        row, ranks = point(p, times, mode=mode, over=p in over, batch=b)
        c = comm * (1 + noise * rng.standard_normal())
        row.update({"pass": pass_, "data": data, "comm_s": c, "compute_s": row["time_s"] - c})
        for x in ranks:
            x.update(comm_s=c, scatter_s=c if data == "scatter" else 0.0, gather_s=0.0,
                     allreduce_s=c if data == "local" else 0.0, compute_s=x["time_s"] - c)
        pts.append((row, ranks))
    return build(d, pts, mode=mode, data=data, pass_=pass_, batch=batch, repeats=repeats,
                 slots=max(procs))
