"""The frame every figure of a sweep shares: matplotlib (Agg), the figure and its margins,
the title and caption, the P axes (log2 for the scaling panels, categories for the bars) and
the colours and styles the figure families agree on."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.ticker import NullLocator  # noqa: E402

from convbench.reporting import stats  # noqa: E402
from convbench.results import store as results  # noqa: E402

FAILED_COLOR = "tab:red"
IDEAL_STYLE = dict(color="0.45", linestyle="--", linewidth=1.2)
MODEL_STYLE = dict(color="C1", linestyle="--", linewidth=1.4)


def new_figure(ncols: int = 1, width: float = 6.4, height: float = 4.8):
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    # fixed margins (tight_layout costs more than drawing the figure)
    fig.subplots_adjust(left=0.13 / ncols, right=1 - 0.03 / ncols, top=0.86, bottom=0.2,
                        wspace=0.25)
    return fig, list(axes[0])


def finish(fig, title: str, caption: str):
    fig.suptitle(title, fontsize=11)
    fig.text(0.01, 0.015, caption, fontsize=7.5, ha="left", va="bottom", color="0.25", wrap=True)
    plt.close(fig)            # drawn through the Figure object, not pyplot's current figure
    return fig


def frame(sweeps: list[results.Sweep]) -> tuple[str, str]:
    ctxs = [stats.sweep_context(s.manifest, s.path.name) for s in sweeps]
    if len(ctxs) == 1:
        return ctxs[0].title, ctxs[0].caption
    c = ctxs[0]
    mpis = sorted({x.mpi for x in ctxs})
    hosts = sorted({x.host for x in ctxs})
    return (f"{c.title}: {len(ctxs)} sweeps",
            f"{'; '.join(mpis)} on {'; '.join(hosts)}; {c.pass_} pass; see the legend for each sweep")


def p_axis(ax, procs: list[int]) -> None:
    procs = sorted(set(procs)) or [1]
    ax.set_xscale("log", base=2)
    ax.set_xlim(min(procs) / 1.4, max(procs) * 1.4)
    ax.set_xticks(procs)
    ax.set_xticklabels([str(p) for p in procs])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("MPI processes P")
    ax.grid(True, which="major", alpha=0.3)



def categories(ax, procs: list[int]) -> None:
    ax.set_xticks(range(len(procs)))
    ax.set_xlim(-0.6, len(procs) - 0.4)
    ax.set_xticklabels([str(p) for p in procs])
    ax.set_xlabel("MPI processes P")
    ax.grid(True, axis="y", alpha=0.3)


def mark_failed(ax, i: int, text: str = "failed") -> None:
    ax.text(i, 0.02, text, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
            color=FAILED_COLOR, fontsize=8, rotation=90)

