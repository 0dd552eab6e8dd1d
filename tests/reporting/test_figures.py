"""`convbench plot`: figures per sweep mode, distinct failed/oversubscribed points, overlays."""
from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from conftest import assert_clean_error, invoke, run_cli
from handmade import build, launched, old_sweep, point, real_sweep
from convbench.reporting import stats
from convbench.reporting import figures as plots
from convbench.results import store
from convbench.core.errors import UsageError

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-"}


def all_text(fig) -> str:
    out = [t.get_text() for t in fig.texts] + [fig.get_suptitle()]
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()] + [t.get_text() for t in ax.texts]
        if ax.get_legend():
            out += [t.get_text() for t in ax.get_legend().get_texts()]
    return "\n".join(out)


def line(ax, label):
    (ln,) = [ln for ln in ax.get_lines() if ln.get_label() == label]
    return ln


def check_png(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(MAGIC["png"]) and 5_000 < len(data) < 200_000, path
    img = mpimg.imread(path)
    assert img.shape[0] > 200 and img.shape[1] > 300
    rgb = img[..., :3].reshape(-1, 3)
    assert rgb.std() > 0.05                               # not a blank page
    assert len(np.unique((rgb * 255).astype(np.uint8), axis=0)) > 20   # lines, text, colours


@pytest.fixture(scope="module")
def strong_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("plots")
    return build(d / "strong", [point(1, [4.0, 4.4, 3.8]), point(2, [2.2, 2.5, 2.1]),
                                point(4, [1.5, 1.9, 1.4], over=True),
                                point(8, [], status="failed", verified=False, reason="timed out")])


@pytest.mark.mpi
def test_cli_plots_a_real_sweep(tmp_path):
    d = real_sweep("scatter")
    p = run_cli("plot", str(d), "--out", str(tmp_path), "--dpi", "72")
    assert p.returncode == 0, p.stderr
    files = [Path(x) for x in p.stdout.split()]
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        f"{fig}.png" for fig in ("time", "speedup", "efficiency", "scaling", "phases", "memory")]
    for f in files:
        check_png(f)


def test_a_directory_of_sweeps_gets_per_sweep_folders_and_overlays(tmp_path, monkeypatch):
    parent = tmp_path / "results"
    build(parent / "a", [point(1, [4.0]), point(2, [2.1])])
    build(parent / "b", [point(1, [3.0]), point(2, [1.7])], data="local")
    build(parent / "c", [point(1, [3.0])], workload="other")         # nothing to overlay with
    build(parent / "d", [point(2, [1.0])], mode="run")
    drawn = []
    monkeypatch.setattr(plots, "figures_of", lambda s: [("memory", lambda: drawn.append(s.path.name)
                                                         or plots.memory_figure(s))])
    res = plots.plot(parent, tmp_path / "figs", fmt="svg", overlay=True)
    names = sorted(f.relative_to(tmp_path / "figs").as_posix() for f in res.files)
    assert names == ["a/memory.svg", "b/memory.svg", "c/memory.svg", "d/memory.svg",
                     "overlay-strong-tiny-efficiency.svg", "overlay-strong-tiny-scaling.svg",
                     "overlay-strong-tiny-speedup.svg", "overlay-strong-tiny-time.svg"]
    assert drawn == ["a", "b", "c", "d"] and res.skipped == ()
    svg = (tmp_path / "figs" / "overlay-strong-tiny-speedup.svg").read_text()
    assert "a: MPICH Version: 4.2.0, forward, scatter" in svg and "b: MPICH Version: 4.2.0, forward, local" in svg


def test_strong_figures_have_labels_ideal_lines_and_say_failed_and_oversubscribed(strong_dir):
    sweep = store.load(strong_dir)
    for make in (plots.time_figure, plots.speedup_figure, plots.efficiency_figure, plots.scaling_figure):
        fig = make([sweep])
        text = all_text(fig)
        assert "strong scaling: tiny" in fig.get_suptitle()
        assert "MPICH Version: 4.2.0 on node1" in text            # the caption
        assert "oversubscribed (P > 2 slots" in text and "failed point" in text
        assert "ideal" in text and "min-max" not in text
        # no point of this hand-made (one launch) sweep has an interval: no bar, and it says so
        assert "No error bars: no interval (too few launches), 1 launch x 3 repeats" in text
        assert "no bar: no interval (too few launches)" in text
        for ax in fig.axes:
            assert ax.get_xlabel() == "MPI processes P" and ax.get_ylabel()
    t = plots.time_figure([sweep]).axes[0]
    assert "(s)" in t.get_ylabel() and t.get_yscale() == "log" and t.get_xscale() == "log"
    assert line(t, "ideal (T(P0) P0 / P)").get_ydata() == pytest.approx([4.0, 2.0, 1.0, 0.5])
    s = plots.speedup_figure([sweep]).axes[0]
    assert line(s, "ideal (S = P)").get_ydata() == pytest.approx([1, 2, 4, 8])
    e = plots.efficiency_figure([sweep]).axes[0]
    assert line(e, "ideal (100 %)").get_ydata() == pytest.approx([1, 1, 1, 1])


def bars(ax) -> dict[int, tuple[float, float]]:
    """The error bars of a panel: P -> (lower end, upper end)."""
    segs = [seg for coll in ax.collections for seg in coll.get_segments()]
    return {round(seg[0][0]): (min(seg[0][1], seg[1][1]), max(seg[0][1], seg[1][1])) for seg in segs}


@pytest.fixture(scope="module")
def ci_dir(tmp_path_factory):
    """P = 1, 2 with asymmetric 95% intervals (5 and 8 launches), 4 without (too few)."""
    d = tmp_path_factory.mktemp("ci")
    return build(d / "ci", [
        launched(point(1, [4.0, 4.4, 3.8]), time_lo_s=3.9, time_hi_s=4.3, speedup_lo=1.0,
                 speedup_hi=1.0, efficiency_lo=1.0, efficiency_hi=1.0),
        launched(point(2, [2.2, 2.5, 2.1]), launches=8, time_lo_s=2.15, time_hi_s=2.4,
                 speedup_lo=1.6, speedup_hi=1.9, efficiency_lo=0.8, efficiency_hi=0.95),
        launched(point(4, [1.5, 1.9, 1.4]), launches=2, ci_note="too few samples: 2 launches")])


def test_error_bars_are_the_95_percent_intervals_asymmetric(ci_dir):
    sweep = store.load(ci_dir)
    rows = {r["procs"]: r for r in stats.points(sweep.summary)}
    assert rows[2]["speedup"] == pytest.approx(4.0 / 2.2)
    for make, value, expect in (
            (plots.time_figure, "time_s", (2.15, 2.4)),
            (plots.speedup_figure, "speedup", (1.6, 1.9)),
            (plots.efficiency_figure, "efficiency", (0.8, 0.95))):
        fig = make([sweep])
        got = bars(fig.axes[0])
        assert got[2] == pytest.approx(expect)                       # not symmetric about the value
        assert 4 not in got                                          # no interval: no bar
        text = all_text(fig)
        assert "Error bars: 95% confidence interval, 2-8 launches x 3 repeats" in text
        assert "a point without a bar: no interval (too few launches)" in text
        assert "bars: 95% confidence interval" in text and "no bar: no interval" in text
    fig = plots.scaling_figure([sweep])
    assert [bars(ax)[2] for ax in fig.axes] == [pytest.approx((1.6, 1.9)), pytest.approx((0.8, 0.95))]


def test_every_point_with_an_interval_says_the_launches_once(tmp_path):
    d = build(tmp_path / "same", [
        launched(point(p, [t, t]), time_lo_s=0.9 * t, time_hi_s=1.1 * t, speedup_lo=0.9 * 4 / t,
                 speedup_hi=1.1 * 4 / t, efficiency_lo=0.9 * 4 / t / p,
                 efficiency_hi=1.1 * 4 / t / p) for p, t in ((1, 4.0), (2, 2.0))])
    fig = plots.scaling_figure([store.load(d)])
    text = all_text(fig)
    assert "Error bars: 95% confidence interval, 5 launches x 2 repeats." in text
    assert "no interval" not in text and "measured (median, bars: 95% confidence interval)" in text


def test_weak_figures_have_a_flat_ideal_and_no_speedup(tmp_path):
    d = build(tmp_path / "weak", [point(1, [1.0, 1.0]), point(2, [1.25, 1.3]), point(4, [2.0, 2.1])],
              mode="weak")
    sweep = store.load(d)
    assert [n for n, _ in plots.figures_of(sweep)] == ["time", "efficiency", "scaling", "phases", "memory"]
    ax = plots.time_figure([sweep]).axes[0]
    assert line(ax, "ideal (flat: T(P0))").get_ydata() == pytest.approx([1.0, 1.0, 1.0])
    eff = plots.efficiency_figure([sweep])
    assert "weak-scaling efficiency" in eff.axes[0].get_ylabel()
    assert "per rank" in eff.get_suptitle()


def test_run_sweep_gets_phases_and_memory_only(tmp_path):
    d = build(tmp_path / "run", [point(2, [0.5, 0.6])], mode="run")
    sweep = store.load(d)
    assert [n for n, _ in plots.figures_of(sweep)] == ["phases", "memory"]
    with pytest.raises(UsageError, match="single-point"):
        plots.scaling_figure([sweep])
    svg = plots.plot(d, tmp_path / "svg", fmt="svg")
    pdf = plots.plot(d, tmp_path / "pdf", fmt="pdf")
    assert [f.name for f in svg.files] == ["phases.svg", "memory.svg"]
    for f in svg.files:
        assert b"<svg" in f.read_bytes()[:400]
    for f in pdf.files:
        assert f.read_bytes().startswith(MAGIC["pdf"])


def test_phases_stack_to_the_longest_computing_rank_of_the_median_repeat(strong_dir):
    sweep = store.load(strong_dir)
    fig = plots.phases_figure(sweep)
    ax = fig.axes[0]
    heights: dict[int, float] = {}
    for patch in ax.patches:
        x = round(patch.get_x() + patch.get_width() / 2)
        heights[x] = max(heights.get(x, 0.0), patch.get_y() + patch.get_height())
    expect = [d["time_s"] for d in stats.phase_breakdown(sweep.ranks)]
    assert [heights[i] for i in range(3)] == pytest.approx(expect)
    assert expect[1] == 2.2                                         # P=2: the median repeat
    text = all_text(fig)
    assert "in the median repeat, the rank with the longest compute" in text and "failed" in text
    assert {"compute", "scatter", "gather", "wait (load imbalance)"} <= set(text.splitlines())
    assert "allreduce" not in text.splitlines()                      # zero everywhere: not drawn


def test_memory_figure_shows_every_rank_with_rank_0_distinct(strong_dir):
    sweep = store.load(strong_dir)
    fig = plots.memory_figure(sweep)
    ax = fig.axes[0]
    peaks = [p for p in ax.patches if p.get_height() >= 60]
    assert len(peaks) == 1 + 2 + 4                                   # P = 1, 2, 4 (8 failed)
    colours = {tuple(np.round(p.get_facecolor(), 3)) for p in peaks}
    rank0 = {tuple(np.round(p.get_facecolor(), 3)) for p in peaks if p.get_height() == 70}
    assert len(colours) == 2 and len(rank0) == 1
    text = all_text(fig)
    assert "rank 0" in text and "other ranks" in text and "MB" in ax.get_ylabel()
    assert "failed: no data" in text and "total 130 MB" in text


@pytest.mark.parametrize("points", [
    [point(2, [1.0, 1.2])],                                                  # one P only
    [point(1, [], status="failed", verified=False), point(2, [], status="failed", verified=False)],
    [point(1, [1.0]), point(2, [0.7], status="ok", verified=False)],         # --no-verify
], ids=["one-p", "all-failed", "unverified"])
def test_degenerate_sweeps_still_draw(tmp_path, points):
    sweep = store.load(build(tmp_path / "s", points))
    for name, make in plots.figures_of(sweep):
        fig = make()
        fig.canvas.draw()                                            # log axes, empty data...
    if len(points) == 2 and points[1][0]["status"] == "failed":
        assert "no measured point" in all_text(plots.speedup_figure([sweep]))


def test_overlay_labels_each_sweep(strong_dir, tmp_path):
    other = build(tmp_path / "other", [point(1, [3.0]), point(2, [1.6])], library="Open MPI v5.0.3, x")
    a, b = store.load(strong_dir), store.load(other)
    fig = plots.scaling_figure([a, b], ["A: MPICH", "B: Open MPI"])
    text = all_text(fig)
    assert "A: MPICH" in text and "B: Open MPI" in text and "2 sweeps" in fig.get_suptitle()
    assert "MPICH Version: 4.2.0; Open MPI v5.0.3" in text


def test_directories_that_are_not_sweeps(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="nor a directory of sweeps"):
        plots.find_sweeps(tmp_path / "empty")
    good = build(tmp_path / "many" / "good", [point(1, [1.0])])
    partial = tmp_path / "many" / "partial"
    partial.mkdir()
    (partial / "manifest.json").write_text((good / "manifest.json").read_text())
    sweeps, skipped = plots.find_sweeps(tmp_path / "many")
    assert [s.path.name for s in sweeps] == ["good"]
    assert len(skipped) == 1 and "partial" in skipped[0] and "no point" in skipped[0]
    (tmp_path / "only-partial").mkdir()
    partial.rename(tmp_path / "only-partial" / "partial")
    with pytest.raises(UsageError, match="no readable sweep"):
        plots.find_sweeps(tmp_path / "only-partial")
    with pytest.raises(UsageError, match="--format"):
        plots.plot(good, tmp_path / "x", fmt="gif")
    with pytest.raises(UsageError, match="--dpi"):
        plots.plot(good, tmp_path / "x", dpi=0)
    assert_clean_error(invoke("plot", str(tmp_path / "only-partial")), 2, "no readable sweep")


def test_an_old_sweep_draws_without_bars_and_says_why(tmp_path):
    sweep = store.load(old_sweep(tmp_path / "old"))
    for name, make in plots.figures_of(sweep):
        fig = make()
        fig.canvas.draw()
        if name in ("time", "speedup", "efficiency", "scaling"):
            assert all(bars(ax) == {} for ax in fig.axes)
            text = all_text(fig)
            assert "No error bars: no interval (too few launches), 1 launch x 3 repeats" in text
            assert "measured (median)" in text and "no bar: no interval (too few launches)" in text
