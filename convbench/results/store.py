"""The results directory of a sweep: its layout, CSV schema, atomic writes and loading.

    <out>/<YYYYmmdd-HHMMSS>-<mode>-<workload>/
        manifest.json        environment, command line, workload, sweep parameters, times
        ranks.csv            one row per (procs, repeat, rank)
        summary.csv          one row per point
        points/p0004/        spec.json (what the ranks ran), result.json (what rank 0
                             wrote), mpiexec.log (everything the ranks printed)

Every file is written to a temporary name in the same directory and renamed over the old
one, so a reader (or a crash) never sees half a file.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

from convbench.core.errors import ConvbenchError, UsageError
from convbench.core.fsio import atomic_write

RANK_COLUMNS = [
    "procs", "repeat", "rank", "host", "start", "end", "images",
    "time_s", "compute_s", "comm_s", "scatter_s", "halo_s", "gather_s", "allreduce_s", "wait_s",
    "rss_base_mb", "rss_peak_mb", "rss_data_mb",
]
SUMMARY_COLUMNS = [
    "mode", "pass", "data", "procs", "batch", "images_per_rank", "repeats",
    "time_s", "time_min_s", "time_max_s", "compute_s", "comm_s",
    "speedup", "efficiency", "karp_flatt", "gflops", "gbs", "roofline_s", "roofline_frac", "bw_frac",
    "mem_total_mb", "mem_max_rank_mb", "mem_rank0_mb", "mem_data_mb", "mem_per_rank_mb",
    "output_shape", "checksum", "oversubscribed", "idle_ranks", "hosts", "launch_s",
    "verified", "status", "reason",
]
MANIFEST, RANKS, SUMMARY = "manifest.json", "ranks.csv", "summary.csv"


def _json_safe(obj):
    """NaN and infinities become null: strict JSON, readable by any tool."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def write_json(path: Path, obj) -> None:
    atomic_write(path, json.dumps(_json_safe(obj), indent=2, sort_keys=False, default=str,
                                  allow_nan=False) + "\n")


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    if isinstance(v, (list, tuple)):
        return " ".join(str(x) for x in v)
    return str(v)


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_fmt(r.get(c)) for c in columns])
    atomic_write(path, buf.getvalue())


def prepare_out(out: Path) -> Path:
    """Make sure --out exists and is writable (a clear error before anything runs)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out {str(out)!r} cannot be created: {e.strerror or e}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"--out {str(out)!r} is not writable")
    return out


def new_sweep_dir(out: Path, mode: str, name: str) -> Path:
    """A new directory for one sweep; never an existing one."""
    out = prepare_out(out)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    for i in range(1, 1000):
        d = out / (f"{stamp}-{mode}-{safe}" + (f"-{i}" if i > 1 else ""))
        try:
            d.mkdir()
            (d / "points").mkdir()
            return d
        except FileExistsError:
            continue
        except OSError as e:
            raise UsageError(f"cannot create a sweep directory in {str(out)!r}: {e.strerror or e}") from None
    raise ConvbenchError(f"cannot find a free sweep directory name in {out}")


def point_dir(sweep_dir: Path, procs: int) -> Path:
    d = Path(sweep_dir) / "points" / f"p{procs:04d}"
    d.mkdir(parents=True, exist_ok=True)
    return d


class Recorder:
    """Writes a sweep's manifest and rewrites its two tables after every point."""

    def __init__(self, sweep_dir: Path, manifest: dict):
        self.dir = Path(sweep_dir)
        self.manifest = manifest
        write_json(self.dir / MANIFEST, manifest)

    def write(self, rank_rows: list[dict], summary_rows: list[dict]) -> None:
        """All rank rows and the whole (re-derived) summary of the points finished so far."""
        write_csv(self.dir / RANKS, rank_rows, RANK_COLUMNS)
        write_csv(self.dir / SUMMARY, summary_rows, SUMMARY_COLUMNS)

    def update_manifest(self, **fields) -> None:
        self.manifest.update(fields)
        write_json(self.dir / MANIFEST, self.manifest)


# ---- loading --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sweep:
    """A results directory as read back: the manifest and the two tables (pandas)."""

    path: Path
    manifest: dict
    ranks: "object"     # pandas.DataFrame
    summary: "object"   # pandas.DataFrame


def is_sweep_dir(path: Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def load(path: str | Path) -> Sweep:
    import pandas as pd

    p = Path(path)
    if not p.is_dir():
        raise UsageError(f"{str(p)!r} is not a directory")
    if not is_sweep_dir(p):
        try:
            inner = sorted(d.name for d in p.iterdir() if d.is_dir() and is_sweep_dir(d))
        except OSError:
            inner = []
        hint = f": it holds {len(inner)} sweep(s), e.g. {inner[-1]!r}; give one of them" if inner else ""
        raise UsageError(f"{str(p)!r} is not a convbench results directory (no {MANIFEST}){hint}")
    try:
        manifest = json.loads((p / MANIFEST).read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        raise UsageError(f"{p / MANIFEST} is unreadable or corrupt: {e}") from None
    tables = {}
    for name, cols in ((RANKS, RANK_COLUMNS), (SUMMARY, SUMMARY_COLUMNS)):
        f = p / name
        if not f.is_file():
            raise UsageError(f"{f} is missing: the sweep measured no point yet")
        try:
            df = pd.read_csv(f)
        except Exception as e:  # pandas raises several types for bad CSV
            raise UsageError(f"{f} is unreadable or corrupt: {str(e).splitlines()[0]}") from None
        missing = [c for c in ("procs",) + tuple(cols[:3]) if c not in df.columns]
        if missing:
            raise UsageError(f"{f} lacks the column(s) {', '.join(missing)}: not a convbench file")
        _check_table(f, df, _NUMERIC[name])
        tables[name] = df
    if len(tables[SUMMARY]) == 0:
        raise UsageError(f"{p / SUMMARY} has no rows: the sweep measured no point yet")
    return Sweep(p, manifest, tables[RANKS], tables[SUMMARY])


#: columns that must read back as numbers (where present)
_NUMERIC = {
    RANKS: [c for c in RANK_COLUMNS if c != "host"],
    SUMMARY: ["time_s", "time_min_s", "time_max_s", "compute_s", "comm_s", "speedup",
              "efficiency", "karp_flatt", "mem_total_mb", "mem_max_rank_mb", "mem_rank0_mb"],
}


def _check_table(f: Path, df, numeric=()) -> None:
    """A truncated or hand-damaged CSV is an error, not NaNs: every row has the header's
    number of fields, an integer procs and numbers where numbers belong."""
    import pandas as pd

    try:
        with open(f, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UsageError(f"{f} is unreadable or corrupt: {e}") from None
    width = len(rows[0]) if rows else 0
    for i, row in enumerate(rows[1:], start=2):
        if row and len(row) != width:
            raise UsageError(f"{f} is truncated or corrupt: line {i} has {len(row)} fields, "
                             f"the header {width}")
    if len(df) and not pd.api.types.is_integer_dtype(df["procs"]):
        raise UsageError(f"{f} is corrupt: its procs column is not all integers")
    bad = [c for c in numeric if len(df) and c in df.columns
           and not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise UsageError(f"{f} is corrupt: column(s) {', '.join(bad)} are not all numbers")


def require(sweep: Sweep, table: str, columns) -> None:
    """Raise a one-line UsageError if a loaded table lacks columns a reader needs."""
    df = sweep.ranks if table == RANKS else sweep.summary
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise UsageError(f"{sweep.path / table} lacks the column(s) {', '.join(missing)}: "
                         "written by another convbench version?")
