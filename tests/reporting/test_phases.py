"""The phase registry: a spatial sweep's halo time appears wherever the other phases do (the
ranks' rows, the phases figure, the report note, the scaling model's communication)."""
from __future__ import annotations

import functools
import tempfile

import pytest

from handmade import TINY, build, point
from convbench.engine import sweep as sweep_mod
from convbench.reporting import figures as plots
from convbench.reporting import scaling, stats, tables
from convbench.results import store
from convbench.workload import phases


def legend(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def spatial_point(p: int, times):
    """A hand-made point whose communication is all halo exchange (no scatter or gather)."""
    row, ranks = point(p, times)
    for r in ranks:
        r.update(scatter_s=0.0, gather_s=0.0, halo_s=r["comm_s"])
    return row, ranks


def test_halo_time_is_a_bar_of_the_phases_figure(tmp_path):
    s = store.load(build(tmp_path / "s", [spatial_point(1, [1.0, 1.1]), spatial_point(2, [0.6])],
                         data="local"))
    bars = plots.phase_bars(s)
    assert [ph.name for ph in bars.phases] == ["compute", "halo", "wait"]
    assert bars.seconds[2]["halo"] == pytest.approx(0.3 * 0.6)
    assert sum(bars.seconds[2].values()) == pytest.approx(0.6)        # the phases add up
    assert legend(plots.phases_figure(s)) == ["compute", "halo exchange", "wait (load imbalance)"]
    # the batch sweep's figure has scatter and gather, and no halo
    b = plots.phase_bars(store.load(build(tmp_path / "b", [point(1, [1.0]), point(2, [0.6])])))
    assert [ph.name for ph in b.phases] == ["compute", "scatter", "gather", "wait"]


def test_the_report_note_names_every_communication_phase(tmp_path):
    s = store.load(build(tmp_path / "s", [spatial_point(1, [1.0]), spatial_point(2, [0.6])]))
    text = tables.render_report(s, "markdown")
    assert "the scatter + halo + gather + allreduce time" in text


@functools.lru_cache(maxsize=None)
def spatial_sweep():
    """A real tiny spatial sweep (P = 1, 2, local data), made once."""
    res = sweep_mod.run(sweep_mod.SweepPlan.of(
        mode="strong", workload=TINY, procs=(1, 2), data="local", decomp="spatial", repeats=2, launches=1, order="sequential",
        warmup=0, timeout=120, out=tempfile.mkdtemp(prefix="convbench-spatial-")), argv=["test"])
    assert not res.failed, res.rows
    return store.load(res.path)


@pytest.mark.mpi
def test_a_real_spatial_sweep_carries_its_halo_time_everywhere():
    s = spatial_sweep()
    ranks = s.ranks
    two = ranks[ranks["procs"] == 2]
    assert (two["halo_s"] > 0).all()
    comm = sum(ranks[c] for c in phases.columns(phases.COMM))
    assert (ranks["comm_s"] - comm).abs().max() == pytest.approx(0.0, abs=1e-12)
    # the phases figure stacks the halo exchange at P = 2
    bars = plots.phase_bars(s)
    assert "halo" in [ph.name for ph in bars.phases] and bars.seconds[2]["halo"] > 0
    # the summary's and the model's communication are the halo exchange's time
    row = {r["procs"]: r for r in stats.points(s.summary)}[2]
    per_repeat = two.groupby("repeat")["halo_s"].max()
    assert row["comm_s"] == pytest.approx(float(per_repeat.median()))
    model = scaling.build(s, procs=())
    (m2,) = [r for r in model.rows if r.procs == 2]
    assert m2.measured_comm_s == pytest.approx(row["comm_s"]) and m2.measured_comm_s > 0
    assert m2.comm_bytes > 0
