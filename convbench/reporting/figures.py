"""Figures of a sweep (matplotlib, Agg backend): only drawing, every number from stats.

One function per figure; each returns a matplotlib Figure with axis labels and units, a title
naming the workload and a caption naming the MPI library and host. The families live in their
own modules and are re-exported here:

- figures_scaling: time, speedup and efficiency vs P, and the two main panels side by side
  (one sweep, or several of the same mode and workload with --overlay);
- figures_breakdown: the phases of a step per P, and the peak memory of every rank;
- figures_frame: what they share (figure, title, caption, P axes, colours).

plot() writes the figures of a sweep or a directory of sweeps.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from convbench.core.errors import UsageError
from convbench.reporting import stats
from convbench.reporting import sweeps as sweeps_of
from convbench.reporting.figures_breakdown import (PHASE_HOW, PHASE_NOTE, memory_figure,  # noqa: F401
                                                   phase_bars, phases_figure)
from convbench.reporting.figures_scaling import (Series, efficiency_figure, fitted_model,  # noqa: F401
                                                 model_label, scaling_figure, speedup_figure,
                                                 time_figure)
from convbench.results import store as results

FORMATS = ("png", "svg", "pdf")


SCALING = {"strong": (("time", time_figure), ("speedup", speedup_figure),
                      ("efficiency", efficiency_figure), ("scaling", scaling_figure)),
           "weak": (("time", time_figure), ("efficiency", efficiency_figure),
                    ("scaling", scaling_figure)),
           "run": ()}


def figures_of(sweep: results.Sweep) -> list[tuple[str, object]]:
    """(name, zero-argument function returning the Figure) for one sweep, by its mode."""
    mode = stats.sweep_context(sweep.manifest).mode
    figs = [(n, (lambda f=f: f([sweep]))) for n, f in SCALING.get(mode, ())]
    figs += [("phases", lambda: phases_figure(sweep)), ("memory", lambda: memory_figure(sweep))]
    return figs


@dataclass(frozen=True)
class PlotResult:
    files: tuple[Path, ...]
    skipped: tuple[str, ...]      # one line per sweep that could not be read


def find_sweeps(path: Path) -> tuple[list[results.Sweep], list[str]]:
    """A sweep directory, or a directory of sweeps (unreadable ones skipped with a reason)."""
    return sweeps_of.find(path)


def _save(fig, path: Path, fmt: str, dpi: int) -> Path:
    try:
        fig.savefig(path, format=fmt, dpi=dpi)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    return path


def _overlay_groups(sweeps: list[results.Sweep]) -> list[list[results.Sweep]]:
    groups: dict[tuple, list] = {}
    for s in sweeps:
        c = stats.sweep_context(s.manifest, s.path.name)
        if c.mode in ("strong", "weak"):
            groups.setdefault((c.mode, c.workload, c.layer), []).append(s)
    return [g for g in groups.values() if len(g) > 1]


def _overlay_label(s: results.Sweep) -> str:
    c = stats.sweep_context(s.manifest, s.path.name)
    return f"{c.name}: {c.mpi}, {c.pass_}, {c.data}"


def plot(path, out=None, fmt: str = "png", overlay: bool = False, dpi: int = 100) -> PlotResult:
    """Write the figures of PATH (a sweep, or a directory of sweeps).

    One sweep: into OUT (default PATH/figures). Several: into OUT/<sweep name>/ (default each
    sweep's figures/), and with overlay the scaling figures of each group of sweeps of the same
    mode and workload into OUT (default PATH/figures) as overlay-<mode>-<workload>-<name>."""
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if not 20 <= dpi <= 600:
        raise UsageError(f"--dpi must be between 20 and 600, got {dpi}")
    path = Path(path)
    sweeps, skipped = find_sweeps(path)
    skipped += [w for s in sweeps for w in s.warnings]      # NaN/inf cells read as missing
    single = len(sweeps) == 1 and results.is_sweep_dir(path)
    files = []
    for s in sweeps:
        if out is None:
            d = s.path / "figures"
        else:
            d = Path(out) if single else Path(out) / s.path.name
        d = results.prepare_out(d)
        for name, make in figures_of(s):
            files.append(_save(make(), d / f"{name}.{fmt}", fmt, dpi))
    if overlay:
        groups = _overlay_groups(sweeps)
        if not groups:
            skipped.append("no overlay: no two sweeps share a mode and workload")
        d = results.prepare_out(Path(out) if out is not None else path / "figures") if groups else None
        for k, g in enumerate(groups, start=1):
            c = stats.sweep_context(g[0].manifest)
            labels = [_overlay_label(s) for s in g]
            stem = f"overlay-{c.mode}-{c.workload}" + (f"-{k}" if len(groups) > 1 else "")
            for name, fn in SCALING[c.mode]:
                files.append(_save(fn(g, labels), d / f"{stem}-{name}.{fmt}", fmt, dpi))
    return PlotResult(tuple(files), tuple(skipped))
