"""Which sweeps a path names: one sweep's results directory, or a directory of sweeps (every
sweep in it, oldest first: a sweep directory's name begins with the time it started)."""
from __future__ import annotations

from pathlib import Path

from convbench.core.errors import ConvbenchError, UsageError
from convbench.results import store

#: what report, model and plot read when given no path: sweep's default --out
DEFAULT_DIR = Path("results")


def find(path: Path | None) -> tuple[list[store.Sweep], list[str]]:
    """(the sweeps, one line per sweep skipped because it cannot be read)."""
    if path is None and not DEFAULT_DIR.is_dir():
        raise UsageError(f"no sweep here: ./{DEFAULT_DIR} does not exist (run a sweep first, "
                         "or give a sweep's directory)")
    path = DEFAULT_DIR if path is None else Path(path)
    if store.is_sweep_dir(path) or not path.is_dir():
        return [store.load(path)], []
    try:
        subdirs = sorted(d for d in path.iterdir() if d.is_dir() and store.is_sweep_dir(d))
    except OSError as e:
        raise UsageError(f"cannot read {str(path)!r}: {e.strerror or e}") from None
    if not subdirs:
        raise UsageError(f"{str(path)!r} is neither a convbench results directory (no "
                         f"{store.MANIFEST}) nor a directory of sweeps")
    sweeps, skipped = [], []
    for d in subdirs:
        try:
            sweeps.append(store.load(d))
        except ConvbenchError as e:
            skipped.append(f"skipped {d.name}: {e}")
    if not sweeps:
        raise UsageError(f"no readable sweep in {str(path)!r}: " + "; ".join(skipped))
    return sweeps, skipped
