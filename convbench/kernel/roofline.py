"""This machine's roofline: single-core float32 peak and memory bandwidth for 1..N cores.

:func:`roofline` is what other code calls: the cached measurement (measured and cached on
first use), as plain data::

    {"peak_gflops_1core": 87.1,                 # numpy float32 matmul, one BLAS thread
     "bandwidth_gbs_by_cores": {1: 14.2, 2: 18.0},  # c = a + b, 3 arrays counted (STREAM "add")
     "measured_at": "2025-01-01T12:00:00+00:00", "cpu_model": "AMD EPYC ...", "cores": 2,
     "matmul_n": 2048, "stream_mb": 256, "cache_file": "..."}

How it is measured:

- peak: the best of a few ``numpy.matmul`` of two n x n float32 matrices (2 n^3 FLOPs) with
  the BLAS limited to one thread. threadpoolctl is used when it is installed; otherwise the
  measurement runs in a child Python with OPENBLAS_NUM_THREADS=1 (and OMP_, MKL_, ...) set
  before numpy loads. This is a practical peak (a good GEMM reaches ~90% of the FMA peak).
- bandwidth: k threads (numpy releases the GIL in ufuncs, so they run on k cores at once), each
  repeating ``numpy.add(a, b, out=c)`` over its own arrays of ``stream_mb`` MB each, far larger
  than the caches; bytes = 3 arrays per add (the STREAM convention: the write-allocate read of
  c is not counted), the best round of all threads together.

The cache is JSON in ``$XDG_CACHE_HOME/convbench/machine.json`` (``~/.cache/convbench``);
``refresh=True`` re-measures. A cache made on another CPU model is ignored.

The same file keeps the network's measurements (convbench.engine.network measures them: an MPI
ping-pong within this host and between two hosts) under ``"network"``, one record per link
(``"within"``, ``"between:h1,h2"``): :func:`cached_network`, :func:`save_network`. They follow
the roofline's rules: ignored on another CPU model, dropped when the roofline is measured anew.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from convbench.core.errors import ConvbenchError, UsageError
from convbench.core.fsio import atomic_write

__all__ = ["roofline", "measure", "cache_file", "cpu_model", "core_count", "cached_network",
           "save_network"]

_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")

#: defaults: big enough to be meaningful, small enough to take a few seconds
MATMUL_N = 2048
STREAM_MB = 256


def cache_file() -> Path:
    """Where the measurement is cached."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "convbench" / "machine.json"


# one definition of each, shared with the manifest and the launcher (the bound a roofline puts
# on a computation's time: convbench.workload.cost.roofline_bound)
from convbench.core.host import core_count, cpu_model  # noqa: E402


# ---- the measurements -----------------------------------------------------------------------

def _matmul_gflops(n: int, repeats: int) -> float:
    """Best GFLOP/s of repeats float32 n x n matmuls in this process (BLAS threads as they are)."""
    import numpy as np
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    np.matmul(a, b, out=c)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best / 1e9


def _peak_one_thread(n: int, repeats: int) -> float:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threadpool_limits is not None:
        with threadpool_limits(limits=1):
            return _matmul_gflops(n, repeats)
    env = {**os.environ, **{v: "1" for v in _THREAD_VARS}}
    code = f"from convbench.kernel.roofline import _matmul_gflops; print(_matmul_gflops({n}, {repeats}))"
    try:
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as e:
        raise ConvbenchError(f"the single-thread matmul measurement failed: {e}") from None
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConvbenchError(f"the single-thread matmul measurement failed: {tail}")
    return float(proc.stdout.strip().splitlines()[-1])


def _add_bandwidth(cores: int, mb: float, repeats: int) -> float:
    """GB/s of `cores` threads each running numpy.add over its own arrays (3 x mb MB)."""
    import numpy as np
    n = max(1024, int(mb * 1e6) // 4)
    arrays = [(np.ones(n, np.float32), np.ones(n, np.float32), np.zeros(n, np.float32))
              for _ in range(cores)]
    for a, b, c in arrays:  # touch every page before timing
        np.add(a, b, out=c)
    barrier = threading.Barrier(cores + 1)
    done = threading.Barrier(cores + 1)

    def work(a, b, c):
        for _ in range(repeats):
            barrier.wait()
            np.add(a, b, out=c)
            done.wait()

    threads = [threading.Thread(target=work, args=arr, daemon=True) for arr in arrays]
    for t in threads:
        t.start()
    best = float("inf")
    for _ in range(repeats):
        barrier.wait()
        t0 = time.perf_counter()
        done.wait()
        best = min(best, time.perf_counter() - t0)
    for t in threads:
        t.join()
    return cores * 3 * n * 4 / best / 1e9


def measure(*, matmul_n: int = MATMUL_N, stream_mb: float = STREAM_MB,
            max_cores: int | None = None, repeats: int = 5) -> dict:
    """Measure the roofline now (a few seconds with the defaults); returns the plain dict."""
    if matmul_n < 16:
        raise UsageError(f"the matmul size must be >= 16, got {matmul_n}")
    if not stream_mb > 0:
        raise UsageError(f"the bandwidth array size must be > 0 MB, got {stream_mb}")
    if repeats < 1:
        raise UsageError(f"repeats must be >= 1, got {repeats}")
    cores = core_count()
    if max_cores is not None:
        if max_cores < 1:
            raise UsageError(f"the core count must be >= 1, got {max_cores}")
        cores = min(cores, max_cores)
    peak = _peak_one_thread(matmul_n, repeats)
    bw = {k: _add_bandwidth(k, stream_mb, repeats) for k in range(1, cores + 1)}
    return {
        "peak_gflops_1core": round(peak, 3),
        "bandwidth_gbs_by_cores": {k: round(v, 3) for k, v in bw.items()},
        "measured_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "cores": core_count(),
        "matmul_n": matmul_n,
        "stream_mb": stream_mb,
    }


# ---- the cache ------------------------------------------------------------------------------

def _load(path: Path) -> dict | None:
    """The cached record if it is readable, complete and from this CPU model, else None."""
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        d["bandwidth_gbs_by_cores"] = {int(k): float(v)
                                       for k, v in d["bandwidth_gbs_by_cores"].items()}
        d["peak_gflops_1core"] = float(d["peak_gflops_1core"])
        if not d["bandwidth_gbs_by_cores"] or d["peak_gflops_1core"] <= 0:
            return None
        if d.get("cpu_model") != cpu_model():
            return None
        d.pop("network", None)          # the network's records: cached_network()
        return d
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _save(path: Path, record: dict) -> None:
    what = f"the machine cache {str(path)!r}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConvbenchError(f"cannot write {what}: {e}") from None
    atomic_write(path, json.dumps(record, indent=2) + "\n", what)


def cached() -> dict | None:
    """The cached roofline of this machine, or None: never measures (sweeps use this)."""
    path = cache_file()
    record = _load(path)
    if record is not None:
        record["cache_file"] = str(path)
    return record


def roofline(refresh: bool = False, **measure_args) -> dict:
    """This machine's roofline: the cached measurement, or a new one (cached) when there is
    none, it is unreadable or from another CPU, or refresh is true. measure_args go to
    :func:`measure` (matmul_n, stream_mb, max_cores, repeats) when it measures.

    Returns {peak_gflops_1core, bandwidth_gbs_by_cores: {1: .., 2: ..}, measured_at,
    cpu_model, cores, matmul_n, stream_mb, cache_file}.
    """
    path = cache_file()
    record = None if refresh else _load(path)
    if record is None:
        kept = None if refresh else (_same_cpu(path) or {}).get("network")
        record = measure(**measure_args)
        _save(path, {**record, "network": kept} if kept else record)
        record = _load(path) or record
    record["cache_file"] = str(path)
    return record


# ---- the network's measurements, in the same file -----------------------------------------------

def _same_cpu(path: Path) -> dict | None:
    """The cache file's JSON object if it was made on this CPU model, else None."""
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) and d.get("cpu_model") == cpu_model() else None


def cached_network() -> dict:
    """The cached network records of this machine, link -> record ({} when none): never
    measures. A record has at least a positive latency_s and bandwidth_bps."""
    d = _same_cpu(cache_file()) or {}
    net = d.get("network") if isinstance(d.get("network"), dict) else {}
    out = {}
    for link, rec in net.items():
        try:
            if float(rec["latency_s"]) > 0 and float(rec["bandwidth_bps"]) > 0:
                out[str(link)] = dict(rec)
        except (KeyError, TypeError, ValueError):
            continue
    return out


def save_network(link: str, record: dict) -> None:
    """Cache one link's measurement beside the roofline (the roofline itself is kept)."""
    path = cache_file()
    d = _same_cpu(path) or {"cpu_model": cpu_model()}
    net = d.get("network") if isinstance(d.get("network"), dict) else {}
    d["network"] = {**net, link: record}
    d.pop("cache_file", None)
    _save(path, d)
