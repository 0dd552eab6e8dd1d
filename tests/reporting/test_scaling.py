"""`convbench model`: Amdahl / Gustafson with communication fitted to a sweep, predictions at
larger P, --fit-up-to, and the model curve in `convbench plot`."""
from __future__ import annotations

import csv
import io
import json
import math

import pytest

from conftest import assert_clean_error, invoke, run_cli
from handmade import build, point, real_sweep, synthetic
from convbench.reporting import scaling as model
from convbench.reporting import figures as plots
from convbench.results import store
from convbench.reporting import scaling_table
from convbench.reporting.stats import sweep_context
from convbench.core.errors import UsageError
from convbench.workload.spec import Workload


def fit(path, **kw) -> model.Model:
    return model.build(store.load(path), **kw)


def row(m: model.Model, procs: int) -> model.Row:
    (r,) = [r for r in m.rows if r.procs == procs]
    return r


def strict_json(text: str):
    def refuse(c):
        raise ValueError(f"not strict JSON: {c}")
    return json.loads(text, parse_constant=refuse)


# ---- the fits recover known parameters -----------------------------------------------------
def test_amdahl_recovers_a_known_serial_fraction(tmp_path):
    m = fit(synthetic(tmp_path / "s", s=0.05, t1=10.0, procs=(1, 2, 4, 8), noise=0.002, seed=1))
    sc = m.scaling
    assert sc.law == "amdahl" and sc.determined and sc.points == 4
    assert sc.serial_fraction == pytest.approx(0.05, rel=0.05)
    assert sc.t1_s == pytest.approx(10.0, rel=0.01)
    assert abs(sc.serial_fraction - 0.05) < 4 * sc.serial_fraction_se       # an honest ±
    assert m.comm.status == "none"                                           # local forward
    assert 0 < m.rms_residual < 0.01
    # predictions follow the law: T(1024) = T1 (s + (1 - s) / 1024), efficiency falls
    assert row(m, 1024).model_time_s == pytest.approx(10 * (0.05 + 0.95 / 1024), rel=0.05)
    assert row(m, 1024).model_speedup == pytest.approx(1 / (0.05 + 0.95 / 1024), rel=0.05)
    effs = [r.model_efficiency for r in m.rows]
    assert effs == sorted(effs, reverse=True) and effs[0] == pytest.approx(1.0)
    assert [r.procs for r in m.rows] == list(model.DEFAULT_PROCS)


def test_gustafson_recovers_a_known_serial_fraction(tmp_path):
    m = fit(synthetic(tmp_path / "w", mode="weak", s=0.1, t1=2.0, noise=0.001, seed=2))
    sc = m.scaling
    assert sc.law == "gustafson" and sc.determined
    assert sc.serial_fraction == pytest.approx(0.1, rel=0.05)
    assert sc.t1_s == pytest.approx(2.0, rel=0.01)
    # scaled speedup P - s (P - 1) and efficiency 1 - s (P - 1) / P of the model
    r = row(m, 64)
    assert r.model_speedup == pytest.approx(64 - sc.serial_fraction * 63, rel=1e-9)
    assert r.model_efficiency == pytest.approx(1 - sc.serial_fraction * 63 / 64, rel=1e-9)
    assert row(m, 4).batch == 64                                 # weak: 16 images per rank


def test_communication_latency_and_bandwidth_are_recovered(tmp_path):
    m = fit(synthetic(tmp_path / "c", data="scatter", latency=1e-3, bandwidth=1e8, s=0.05,
                      procs=(1, 2, 4, 8, 16), noise=0.003, seed=3))
    c = m.comm
    assert c.status == "fitted" and c.points == 5
    assert c.latency_s == pytest.approx(1e-3, rel=0.05)
    assert c.bandwidth_bps == pytest.approx(1e8, rel=0.05)
    assert c.latency_se > 0 and c.bandwidth_se > 0
    assert m.scaling.serial_fraction == pytest.approx(0.05, rel=0.05)
    # the model's communication at a P is latency + bytes / bandwidth of that P's bytes
    r = row(m, 256)
    assert r.model_comm_s == pytest.approx(c.latency_s + r.comm_bytes / c.bandwidth_bps)
    assert r.model_time_s == pytest.approx(m.scaling.time(256) + r.model_comm_s)


def test_fit_comm_cases():
    exact = model.fit_comm([0, 1e6, 2e6, 3e6], [0.002 + b / 5e8 for b in (0, 1e6, 2e6, 3e6)])
    assert (exact.latency_s, exact.bandwidth_bps) == pytest.approx((0.002, 5e8))
    two = model.fit_comm([0, 1e6], [0.001, 0.003])
    assert two.status == "fitted" and math.isnan(two.latency_se) and "exact" in two.note
    one = model.fit_comm([0], [0.004])
    assert one.status == "constant" and one.latency_s == 0.004 and math.isinf(one.bandwidth_bps)
    assert "not determined" in one.note
    assert model.fit_comm([0, 0], [0.0, 0.0]).status == "none"
    assert model.fit_comm([0, 1e6], [math.nan, math.nan]).status == "none"
    shrinking = model.fit_comm([0, 1e6, 2e6], [0.003, 0.002, 0.001])
    assert shrinking.status == "constant" and "does not grow" in shrinking.note
    neg = model.fit_comm([1e6, 2e6, 3e6], [0.0009, 0.0021, 0.0030])     # intercept < 0
    assert neg.latency_s == 0 and neg.bandwidth_bps == pytest.approx(1e9, rel=0.05)


def test_scaling_fits_at_the_edges():
    # exact Amdahl data: exact parameters; two P: no uncertainty
    ps = [1, 2, 4, 8]
    t = [8 * (0.2 + 0.8 / p) for p in ps]
    a = model.fit_amdahl(ps, t)
    assert (a.serial_fraction, a.t1_s) == pytest.approx((0.2, 8.0))
    two = model.fit_amdahl([1, 2], [4.0, 2.2])
    assert two.serial_fraction == pytest.approx(0.1) and math.isnan(two.serial_fraction_se)
    # superlinear (faster than ideal): held at s = 0, and said so
    sup = model.fit_amdahl([1, 2, 4], [4.0, 1.9, 0.9])
    assert sup.serial_fraction == 0 and sup.determined and "superlinear" in sup.note
    # time rising with P: held at s = 1
    up = model.fit_amdahl([1, 2, 4], [1.0, 1.2, 1.5])
    assert up.serial_fraction == 1 and "does not fall" in up.note
    # one P: s cannot be fitted; assumed 0 (ideal) with T1 = P T(P)
    one = model.fit_amdahl([2], [3.0])
    assert not one.determined and one.serial_fraction == 0 and one.t1_s == 6.0
    g = model.fit_gustafson([1, 2, 4, 8], [2 / (1 - 0.3 * (p - 1) / p) for p in ps])
    assert (g.serial_fraction, g.t1_s) == pytest.approx((0.3, 2.0))
    with pytest.raises(UsageError):
        model.fit_amdahl([], [])


def test_bytes_moved_per_point():
    wl = Workload(name="t", batch=8, c_in=2, c_out=3, height=10, width=10, kh=3, kw=3)
    x, y = 8 * 2 * 100 * 4, 8 * 3 * 64 * 4
    grad = (3 * 2 * 9 + 3) * 4
    assert model.comm_bytes(wl, "forward", "scatter", 1) == 0
    assert model.comm_bytes(wl, "forward", "scatter", 4) == pytest.approx(0.75 * (x + y))
    assert model.comm_bytes(wl, "backward", "scatter", 2) == pytest.approx(0.5 * (2 * x + y))
    assert model.comm_bytes(wl, "train", "scatter", 2) == pytest.approx(0.5 * (x + y) + grad)
    assert model.comm_bytes(wl, "forward", "local", 8) == 0
    assert model.comm_bytes(wl, "train", "local", 4) == pytest.approx(2 * 0.75 * grad)
    assert model.comm_bytes(wl, "forward", "scatter", 4, batch=32) == pytest.approx(3 * (x + y))
    # counted exactly (convbench.workload.cost): at P = 3 rank 0 keeps 3 of the 8 images
    assert model.comm_bytes(wl, "forward", "scatter", 3) == pytest.approx(5 / 8 * (x + y))
    # spatial: a halo of K - stride = 2 rows of every image at each of the P - 1 boundaries
    assert model.comm_bytes(wl, "forward", "local", 4, decomp="spatial") == 3 * 2 * 8 * 2 * 10 * 4


# ---- which points are fitted -----------------------------------------------------------------
def test_fit_up_to_predicts_the_other_measured_points(tmp_path):
    d = synthetic(tmp_path / "s", s=0.05, t1=10.0, procs=(1, 2, 4, 8))
    m = fit(d, fit_up_to=2, procs=(16,))
    assert [r.procs for r in m.rows] == [1, 2, 4, 8, 16]
    assert [r.point for r in m.rows] == ["fitted", "fitted", "predicted", "predicted", ""]
    assert row(m, 8).measured_time_s == pytest.approx(10 * (0.05 + 0.95 / 8))
    assert row(m, 8).residual == pytest.approx(0, abs=1e-9)        # the law is exact here
    assert math.isnan(row(m, 16).measured_time_s) and math.isnan(row(m, 16).residual)
    # from P = 1 only: s cannot be fitted, so the ideal (s = 0) is predicted, and said so
    one = fit(d, fit_up_to=1)
    assert not one.scaling.determined and one.scaling.serial_fraction == 0
    r2 = row(one, 2)
    assert r2.model_time_s == pytest.approx(5.0) and r2.measured_time_s == pytest.approx(5.25)
    assert r2.residual == pytest.approx((5.25 - 5.0) / 5.25)
    assert any("optimistic bound" in n for n in one.notes)


def test_oversubscribed_points_are_shown_but_not_fitted(tmp_path):
    d = synthetic(tmp_path / "o", s=0.05, procs=(1, 2, 4, 8), over=(8,))
    # make the oversubscribed point slow, as contention does
    import pandas as pd
    s = pd.read_csv(d / "summary.csv")
    s.loc[s["procs"] == 8, ["time_s", "time_min_s", "time_max_s"]] *= 1.6
    s.to_csv(d / "summary.csv", index=False)
    m = fit(d)
    assert m.scaling.serial_fraction == pytest.approx(0.05) and m.scaling.points == 3
    assert row(m, 8).point == "oversubscribed" and not row(m, 8).fitted
    assert row(m, 8).residual > 0.3
    assert any("Oversubscribed P = 8" in n for n in m.notes)
    both = fit(d, include_oversubscribed=True)
    assert both.scaling.points == 4 and both.scaling.serial_fraction > 0.06


def test_one_point_and_unusable_sweeps(tmp_path):
    one = fit(build(tmp_path / "one", [point(1, [2.0, 2.1])], data="local"))
    assert not one.scaling.determined and row(one, 4).model_time_s == pytest.approx(
        one.scaling.t1_s / 4 + one.comm.time(row(one, 4).comm_bytes))
    with pytest.raises(UsageError, match="single-point sweep"):
        fit(build(tmp_path / "run", [point(2, [1.0])], mode="run"))
    with pytest.raises(UsageError, match="no verified, non-failed point"):
        fit(build(tmp_path / "bad", [point(1, [], status="failed", verified=False),
                                     point(2, [0.5], verified=False)]))
    with pytest.raises(UsageError, match="--include-oversubscribed"):
        fit(build(tmp_path / "over", [point(4, [1.0], over=True)]))
    ok = build(tmp_path / "ok", [point(2, [1.0]), point(4, [0.6])])
    with pytest.raises(UsageError, match="leaves no point to fit: the smallest usable P is 2"):
        fit(ok, fit_up_to=1)
    with pytest.raises(UsageError, match="--fit-up-to must be >= 1"):
        fit(ok, fit_up_to=0)


# ---- the exporters and the command -----------------------------------------------------------
def test_markdown_csv_and_json(tmp_path):
    d = synthetic(tmp_path / "s", data="scatter", latency=1e-3, bandwidth=1e8, procs=(1, 2, 4),
                  noise=0.003)
    sweep = store.load(d)
    m = model.build(sweep, procs=(64,), fit_up_to=2)
    ctx = sweep_context(sweep.manifest, d.name)
    md = scaling_table.render_model(m, ctx)
    assert md.startswith("### scaling model: strong scaling: tiny")
    assert "Amdahl: T(P) = T1 (s + (1 - s) / P) + c(P)" in md
    assert "| serial fraction s |" in md and "| bandwidth (GB/s) |" in md
    assert "| 4 |" in md and "predicted (not fitted: P > --fit-up-to 2)" in md
    rows = list(csv.DictReader(io.StringIO(scaling_table.render_model(m, ctx, "csv"))))
    assert [r["procs"] for r in rows] == ["1", "2", "4", "64"]
    assert rows[2]["point"] == "predicted" and float(rows[2]["measured_time_s"]) > 0
    assert rows[3]["measured_time_s"] == ""
    js = strict_json(scaling_table.render_model(m, ctx, "json"))
    assert js["model"]["law"] == "amdahl" and js["model"]["fit_up_to"] == 2
    assert js["model"]["bandwidth_bps"] == pytest.approx(m.comm.bandwidth_bps)
    assert js["points"][3]["measured_time_s"] is None and js["notes"]


@pytest.fixture(scope="module")
def tiny_sweep():
    return real_sweep("scatter")           # a real strong sweep, P = 1, 2 (shared per session)


@pytest.mark.mpi
def test_cli_on_a_real_sweep_predicts_p2_from_p1_beside_the_measurement(tiny_sweep):
    p = run_cli("model", str(tiny_sweep), "--fit-up-to", "1", "--procs", "2,16", "-f", "csv")
    assert p.returncode == 0, p.stderr
    rows = {int(r["procs"]): r for r in csv.DictReader(io.StringIO(p.stdout))}
    assert sorted(rows) == [1, 2, 16]
    assert rows[1]["point"] == "fitted" and rows[2]["point"] == "predicted"
    summary = {r["procs"]: r for r in store.load(tiny_sweep).summary.to_dict("records")}
    measured, predicted = float(rows[2]["measured_time_s"]), float(rows[2]["model_time_s"])
    assert measured == pytest.approx(summary[2]["time_s"])
    assert predicted > 0 and float(rows[2]["residual"]) == pytest.approx((measured - predicted) / measured)
    md = run_cli("model", str(tiny_sweep))
    assert md.returncode == 0, md.stderr
    assert "### scaling model: strong scaling: tiny" in md.stdout and "| 1024 |" in md.stdout
    assert "Two P: two parameters for two points" in md.stdout
    js = run_cli("model", str(tiny_sweep), "--format", "json")
    assert strict_json(js.stdout)["model"]["scaling_points"] == 2


def test_cli_errors(tmp_path):
    run = build(tmp_path / "run", [point(2, [1.0])], mode="run")
    assert_clean_error(invoke("model", str(run)), 2, "single-point sweep")
    # a directory of sweeps: the ones that cannot be modelled are skipped, naming why
    assert_clean_error(invoke("model", str(tmp_path)), 2, "single-point sweep")
    (tmp_path / "empty").mkdir()
    assert_clean_error(invoke("model", str(tmp_path / "empty")), 2, "nor a directory of sweeps")
    ok = build(tmp_path / "ok", [point(1, [1.0]), point(2, [0.6])])
    both = invoke("model", str(tmp_path))
    assert both.returncode == 0 and both.stdout.count("### scaling model") == 1
    assert "skipped run: a single-point sweep" in both.stderr
    assert_clean_error(invoke("model", str(ok), "--procs", "1,x"), 2, "--procs")
    assert_clean_error(invoke("model", str(ok), "-f", "xml"), 2, "--format")


# ---- the model in the figures ------------------------------------------------------------------
def model_line(ax):
    lines = [ln for ln in ax.get_lines() if ln.get_label().startswith("model: ")]
    assert len(lines) <= 1
    return lines[0] if lines else None


def test_plot_draws_the_fitted_model_beside_the_points(tmp_path):
    sweep = store.load(synthetic(tmp_path / "s", s=0.05, t1=10.0, procs=(1, 2, 4, 8)))
    ax = plots.time_figure([sweep]).axes[0]
    ln = model_line(ax)
    assert ln.get_label() == "model: Amdahl, s = 0.05" and ln.get_linestyle() == "--"
    xs, ys = ln.get_xdata(), ln.get_ydata()
    assert xs[0] == 1 and xs[-1] == pytest.approx(8 * 1.4)              # a bit beyond P = 8
    assert ys[0] == pytest.approx(10.0) and ys[-1] == pytest.approx(10 * (0.05 + 0.95 / 11.2))
    assert "model: Amdahl, s = 0.05" in [t.get_text() for t in ax.get_legend().get_texts()]
    sp = model_line(plots.speedup_figure([sweep]).axes[0])
    assert sp.get_ydata()[-1] == pytest.approx(1 / (0.05 + 0.95 / 11.2))
    assert model_line(plots.efficiency_figure([sweep]).axes[0]) is not None
    for ax in plots.scaling_figure([sweep]).axes:
        assert model_line(ax) is not None
    weak = store.load(synthetic(tmp_path / "w", mode="weak", s=0.1, t1=2.0))
    eff = model_line(plots.efficiency_figure([weak]).axes[0])
    assert eff.get_label() == "model: Gustafson, s = 0.1"
    assert eff.get_ydata()[-1] == pytest.approx(1 - 0.1 * 10.2 / 11.2)


def test_plot_draws_no_model_where_s_was_not_fitted(tmp_path):
    one = store.load(build(tmp_path / "one", [point(1, [2.0]), point(2, [], status="failed",
                                                                         verified=False)]))
    assert model_line(plots.time_figure([one]).axes[0]) is None
    a = store.load(synthetic(tmp_path / "a", s=0.05))
    b = store.load(synthetic(tmp_path / "b", s=0.1))
    for ax in plots.scaling_figure([a, b], ["A", "B"]).axes:             # overlay: no model
        assert model_line(ax) is None


# ---- the network: measured (the manifest's, from convbench machine) or fitted -----------------
WITHIN = {"link": "within", "hosts": ["node1", "node1"], "latency_s": 2e-3, "bandwidth_bps": 5e7,
          "measured_at": "2025-01-01T00:00:00+00:00"}
BETWEEN = {"link": "between", "hosts": ["node1", "node2"], "latency_s": 4e-3,
           "bandwidth_bps": 2.5e7}


def with_network(path, hosts=None, **links):
    """Record a measured network (and the hosts of the ranks) in a hand-made sweep's manifest."""
    man = json.loads((path / store.MANIFEST).read_text())
    man["network"] = links
    if hosts is not None:
        man["hosts"] = hosts
    store.write_json(path / store.MANIFEST, man)
    return path


def scatter(path):
    return synthetic(path, data="scatter", latency=1e-3, bandwidth=1e8, s=0.05,
                     procs=(1, 2, 4, 8), noise=0.002, seed=3)


def test_the_measured_network_is_used_when_the_manifest_has_it(tmp_path):
    d = with_network(scatter(tmp_path / "s"), within=WITHIN)
    m = fit(d)
    assert m.network == "measured" and m.comm.status == "measured"
    assert (m.comm.latency_s, m.comm.bandwidth_bps) == (2e-3, 5e7)
    assert m.notes[0].startswith("Network: measured") and "2e+03 us" not in m.notes[0]
    assert "within host node1" in m.comm.note
    r = row(m, 4)
    assert r.model_comm_s == pytest.approx(2e-3 + r.comm_bytes / 5e7)
    assert row(m, 1).model_comm_s == 0.0          # P = 1 sends nothing: no latency either
    assert m.scaling.determined                     # s fitted on the time without c(P)
    # --network fit: the sweep's own communication times, as before
    f = fit(d, network="fit")
    assert f.network == "fit" and f.comm.status == "fitted"
    assert f.comm.latency_s == pytest.approx(1e-3, rel=0.05)
    assert f.comm.bandwidth_bps == pytest.approx(1e8, rel=0.05)
    assert f.notes[0] == "Network: fitted to the sweep's communication times (--network fit)."
    assert fit(d, network="measured").comm == m.comm


def test_without_a_measured_network_the_model_fits_it(tmp_path):
    d = scatter(tmp_path / "s")
    m = fit(d)
    assert m.network == "fit" and m.comm.status == "fitted"
    assert m.notes[0].startswith("Network: fitted") and "records no measured network" in m.notes[0]
    with pytest.raises(UsageError, match="--network measured: the manifest records no measured"):
        fit(d, network="measured")
    with pytest.raises(UsageError, match="--network must be measured or fit"):
        fit(d, network="guess")


def test_a_sweep_across_hosts_takes_the_network_between_them(tmp_path):
    two = {"node1": {"1": 1, "2": 1, "4": 2}, "node2": {"2": 1, "4": 2}}
    d = with_network(scatter(tmp_path / "two"), hosts=two, within=WITHIN, between=BETWEEN)
    m = fit(d)
    assert (m.comm.latency_s, m.comm.bandwidth_bps) == (4e-3, 2.5e7)
    assert "between node1 and node2" in m.comm.note
    one = with_network(scatter(tmp_path / "one"), hosts={"node1": {"1": 1, "2": 2}},
                       within=WITHIN, between=BETWEEN)
    assert fit(one).comm.latency_s == 2e-3       # one host: the network within it
    # across hosts, but only the network within a host was measured: fitted, and said why
    d2 = with_network(scatter(tmp_path / "nobetween"), hosts=two, within=WITHIN)
    m2 = fit(d2)
    assert m2.network == "fit" and "ran on 2 hosts (node1, node2)" in m2.notes[0]
    with pytest.raises(UsageError, match="no network measured between hosts"):
        fit(d2, network="measured")


def test_fit_up_to_one_predicts_p2_from_the_measured_network(tmp_path):
    m = fit(with_network(scatter(tmp_path / "s"), within=WITHIN), fit_up_to=1)
    assert m.network == "measured" and not m.scaling.determined
    r = row(m, 2)
    assert r.point == "predicted"
    assert r.model_comm_s == pytest.approx(2e-3 + r.comm_bytes / 5e7)


def test_local_data_needs_no_network(tmp_path):
    m = fit(with_network(synthetic(tmp_path / "l", s=0.05), within=WITHIN))
    assert m.comm.status == "none" and m.network == "fit"
    assert m.notes[0].startswith("Network: none")


def test_cli_says_which_network_it_used(tmp_path):
    d = with_network(scatter(tmp_path / "s"), within=WITHIN)
    out = invoke("model", str(d))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Network: measured" in out.stdout and "measured: MPI ping-pong within host node1" in out.stdout
    js = strict_json(invoke("model", str(d), "--network", "fit", "-f", "json").stdout)
    assert js["model"]["comm_status"] == "fitted"
    assert js["notes"][0].startswith("Network: fitted")
    js = strict_json(invoke("model", str(d), "-f", "json").stdout)
    assert js["model"]["comm_status"] == "measured" and js["model"]["latency_s"] == 2e-3
    assert_clean_error(invoke("model", str(scatter(tmp_path / "n")), "--network", "measured"),
                       2, "records no measured network")
    assert_clean_error(invoke("model", str(d), "--network", "x"), 2, "--network must be")


def test_plot_draws_the_fitted_and_the_measured_network_models(tmp_path):
    sweep = store.load(with_network(scatter(tmp_path / "s"), within=WITHIN))
    for ax in [plots.time_figure([sweep]).axes[0], *plots.scaling_figure([sweep]).axes]:
        lines = {ln.get_label(): ln for ln in ax.get_lines() if ln.get_label().startswith("model: ")}
        assert len(lines) == 2
        (fitted,) = [ln for k, ln in lines.items() if k.endswith("+ communication")]
        (measured,) = [ln for k, ln in lines.items() if k.endswith("+ measured network")]
        assert fitted.get_linestyle() == "--" and measured.get_linestyle() == ":"
        assert list(measured.get_ydata()) != list(fitted.get_ydata())
    # the measured model's time curve: its own s and T1 plus the measured c(P)
    ax = plots.time_figure([sweep]).axes[0]
    (measured,) = [ln for ln in ax.get_lines() if ln.get_label().endswith("measured network")]
    m = model.build(sweep, procs=(), network="measured")
    assert measured.get_ydata()[-1] == pytest.approx(m.time(measured.get_xdata()[-1]))
