"""The results directory of a sweep: its layout, CSV schema, atomic writes and loading.

    <out>/<YYYYmmdd-HHMMSS>-<mode>-<workload>/
        manifest.json        environment, command line, workload, sweep parameters, times
        ranks.csv            one row per (procs, launch, repeat, rank)
        launches.csv         one row per launch (one mpiexec) of a point
        summary.csv          one row per point
        points/p0004/l000/   one launch: spec.json (what the ranks ran), result.json (what
                             rank 0 wrote), mpiexec.log (everything the ranks printed),
                             outcome.json (its rows, what a resumed sweep keeps)

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
from convbench.results import records
from convbench.core.fsio import atomic_write

#: the columns of the two tables, in order: the fields of their records
RANK_COLUMNS = list(records.columns(records.RankRow))
LAUNCH_COLUMNS = list(records.columns(records.LaunchRow))
SUMMARY_COLUMNS = list(records.columns(records.PointRow))
MANIFEST, RANKS, LAUNCHES, SUMMARY = "manifest.json", "ranks.csv", "launches.csv", "summary.csv"




def write_json(path: Path, obj) -> None:
    """obj (a dict, list or record) as strict JSON: NaN and infinities as null."""
    atomic_write(path, records.dumps(obj) + "\n")


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


def write_csv(path: Path, rows: list, columns) -> None:
    """rows (dicts keyed by column, or records) under the header `columns`."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        r = r if isinstance(r, dict) else records.to_dict(r)
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


def launch_dir(sweep_dir: Path, procs: int, launch: int, *, make: bool = True) -> Path:
    """points/pNNNN/lNNN: one launch of a point (schema 1-2 sweeps kept one launch in pNNNN)."""
    d = Path(sweep_dir) / "points" / f"p{procs:04d}" / f"l{launch:03d}"
    if make:
        d.mkdir(parents=True, exist_ok=True)
    return d


class Recorder:
    """Writes a sweep's manifest and rewrites its two tables after every point."""

    def __init__(self, sweep_dir: Path, manifest: dict):
        self.dir = Path(sweep_dir)
        self.manifest = manifest
        self._write_manifest()

    def _write_manifest(self) -> None:
        """The manifest through its record: checked, with this convbench's schema_version.
        self.manifest stays the dict the engine keeps adding to."""
        stamped = records.stamp(self.manifest)
        self.manifest["schema_version"] = stamped["schema_version"]
        write_json(self.dir / MANIFEST, stamped)

    def write(self, rank_rows: list, summary_rows: list, launch_rows: list = ()) -> None:
        """All rank rows, launch rows and the whole (re-derived) summary of the launches
        finished so far (records, or dicts keyed by their columns)."""
        write_csv(self.dir / RANKS, rank_rows, RANK_COLUMNS)
        write_csv(self.dir / LAUNCHES, launch_rows, LAUNCH_COLUMNS)
        write_csv(self.dir / SUMMARY, summary_rows, SUMMARY_COLUMNS)

    def update_manifest(self, **fields) -> None:
        self.manifest.update(fields)
        self._write_manifest()


# ---- loading --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sweep:
    """A results directory as read back: the manifest and the three tables (pandas).
    A sweep of schema 1-2 has no launches.csv: ``launches`` is then empty (its columns only)
    and its ranks.csv reads as launch 0, round 0 of every point."""

    path: Path
    manifest: dict
    ranks: "object"     # pandas.DataFrame
    summary: "object"   # pandas.DataFrame
    warnings: tuple[str, ...] = ()    # one line per row whose NaN/inf cells are read as missing
    launches: "object" = None         # pandas.DataFrame


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
    manifest = read_manifest(p / MANIFEST)
    tables = {}
    for name, record in TABLES.items():
        f = p / name
        if name == LAUNCHES and not f.is_file() and manifest.get("schema_version", 1) < 3:
            tables[name] = pd.DataFrame(columns=LAUNCH_COLUMNS)     # before launches
            continue
        if not f.is_file():
            raise UsageError(f"{f} is missing: the sweep measured no point yet")
        try:
            df = pd.read_csv(f)
        except Exception as e:  # pandas raises several types for bad CSV
            raise UsageError(f"{f} is unreadable or corrupt: {str(e).splitlines()[0]}") from None
        later = records.later_columns(record)
        missing = [c for c in records.columns(record) if c not in df.columns and c not in later]
        if missing:
            raise UsageError(f"{f} lacks the column(s) {', '.join(missing)}: not a convbench file "
                             "(or one another convbench version wrote)")
        for c in later:                 # an older file: these columns did not exist yet
            if c not in df.columns:
                df[c] = OLD_DEFAULTS.get(c, math.nan)
        _check_table(f, df, records.numeric_columns(record))
        tables[name] = df
    if len(tables[SUMMARY]) == 0:
        raise UsageError(f"{p / SUMMARY} has no rows: the sweep measured no point yet")
    notes = [*_missing(p / RANKS, tables[RANKS], ()), *_missing(p / SUMMARY, tables[SUMMARY], TIMES)]
    return Sweep(p, manifest, tables[RANKS], tables[SUMMARY], tuple(notes), tables[LAUNCHES])


#: what an older file's missing columns hold: one launch per point, in round 0
OLD_DEFAULTS = {"launch": 0, "round": 0, "position": 0, "cpu": -1, "affinity": "",
                "ci_note": "", "flags": "", "stopped": ""}


#: a point with one of these missing has no measurement (its scaling columns neither)
TIMES = ("time_s",)
_DERIVED = ("speedup", "efficiency", "karp_flatt")


def _missing(f: Path, df, needed) -> list[str]:
    """Infinities are read as missing values; an ok row missing a needed value is read as a
    failed point. One line per such row, naming it (file, line, P)."""
    import numpy as np
    notes = []
    numeric = [c for c in df.columns if c in records.numeric_columns(records.PointRow)
               or c in records.numeric_columns(records.RankRow)
               or c in records.numeric_columns(records.LaunchRow)]
    for i in range(len(df)):
        row = df.iloc[i]
        inf = [c for c in numeric if isinstance(row[c], float) and np.isinf(row[c])]
        lost = [c for c in needed if c in df.columns and row.get("status") == "ok"
                and not np.isfinite(row[c])]
        if not inf and not lost:
            continue
        if inf:
            df.loc[df.index[i], inf] = np.nan
        if lost:
            for c in ("status", "reason"):
                if df[c].dtype != object:
                    df[c] = df[c].astype(object)
            df.loc[df.index[i], "status"] = "failed"
            df.loc[df.index[i], "reason"] = f"{', '.join(lost)} missing in {f.name}"
            df.loc[df.index[i], [c for c in _DERIVED if c in df.columns]] = np.nan
        what = ", ".join(inf + [c for c in lost if c not in inf])
        notes.append(f"{f}, line {i + 2} (P={row['procs']}): {what} not a finite number; read "
                     "as missing" + (" and the point as failed" if lost else ""))
    return notes


#: each table and the record of its rows
TABLES = {RANKS: records.RankRow, LAUNCHES: records.LaunchRow, SUMMARY: records.PointRow}


def read_manifest(path: Path) -> dict:
    """manifest.json, checked against its record: this layout or the previous one (read as
    this one); a newer schema_version or a damaged file is a one-line UsageError."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        raise UsageError(f"{path} is unreadable or corrupt: {e}") from None
    return records.Manifest.from_json(raw, str(path)).to_json() | {
        "schema_version": raw.get("schema_version", 1)}


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
    bad = [c for c in numeric if len(df) and not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise UsageError(f"{f} is corrupt: column(s) {', '.join(bad)} are not all numbers")


def require(sweep: Sweep, table: str, columns) -> None:
    """Raise a one-line UsageError if a loaded table lacks columns a reader needs."""
    df = sweep.ranks if table == RANKS else sweep.summary
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise UsageError(f"{sweep.path / table} lacks the column(s) {', '.join(missing)}: "
                         "written by another convbench version?")
