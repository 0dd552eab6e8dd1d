"""`convbench compare A B`: per P, B/A with its 95% interval, the Mann-Whitney p over launch
times and a verdict; mismatched sweeps warned about, old sweeps (one launch) too few samples."""
from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

from conftest import assert_clean_error, invoke, run_cli
from handmade import build, point, real_sweep
from convbench.reporting import compare, tables, uncertainty
from convbench.results import store


def by_p(cmp):
    return {c.procs: c for c in cmp.points}


def launched(p: int, launches: list[list[float]], **kw):
    """handmade.point for a point of several launches: launch k ran in round k (at position
    k * 10 + p) with the repeat times launches[k]; the summary row pools every repeat."""
    row, _ = point(p, [t for ts in launches for t in ts], **kw)
    ranks = []
    for k, ts in enumerate(launches):
        ranks += [{**r, "launch": k, "round": k, "position": 10 * k + p} for r in point(p, ts, **kw)[1]]
    row["launches"] = len(launches)
    return row, ranks


def noisy(t: float, seed: int, n: int = 5, r: int = 3, cv: float = 0.02) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    return (t * np.exp(rng.normal(0, cv, (n, r)))).tolist()


def test_verdict_per_p_with_interval_and_test(tmp_path):
    a = build(tmp_path / "a", [launched(1, noisy(4.0, 1)), launched(2, noisy(2.0, 2)),
                               launched(4, noisy(1.0, 3)), launched(16, noisy(0.3, 9))])
    b = build(tmp_path / "b", [launched(1, noisy(2.0, 4)), launched(2, noisy(2.0, 5)),
                               launched(4, noisy(1.25, 6)), launched(8, noisy(0.5, 7))],
              library="Open MPI v5.0.3, package")
    cmp = compare.compare(store.load(a), store.load(b))
    got = by_p(cmp)
    assert sorted(got) == [1, 2, 4, 8, 16]
    assert got[1].verdict == "faster" and got[1].ratio_hi < 1 and got[1].p_value == pytest.approx(2 / 252)
    assert got[1].ratio == pytest.approx(got[1].b_time_s / got[1].a_time_s)
    assert got[1].ratio_lo < got[1].ratio < got[1].ratio_hi
    assert got[2].verdict == "no detectable difference" and got[2].ratio_lo < 1 < got[2].ratio_hi
    assert got[4].verdict == "slower" and 1.15 < got[4].ratio_lo < 1.25 < got[4].ratio_hi < 1.35
    assert (got[4].a_launches, got[4].a_repeats, got[4].b_launches, got[4].b_repeats) == (5, 3, 5, 3)
    assert got[4].note == ""
    assert got[16].note == "only in A" and math.isnan(got[16].ratio) and got[16].verdict == ""
    assert got[8].note == "only in B" and math.isnan(got[8].a_time_s) and got[8].a_launches == 0
    w = " | ".join(cmp.warnings)
    assert "P=16 only in A" in w and "P=8 only in B" in w
    assert "too few" not in w and "different workloads" not in w        # other MPI: fine
    assert cmp.a.mpi.startswith("MPICH") and cmp.b.mpi == "Open MPI v5.0.3"

    md = tables.render_compare(cmp, "markdown")
    c4 = got[4]
    assert (f"| 4 | {c4.a_time_s:.4g} | 5 x 3 | {c4.b_time_s:.4g} | 5 x 3 | {c4.ratio:.3f} | "
            f"[{c4.ratio_lo:.3f}, {c4.ratio_hi:.3f}] | 0.008 | slower | - |") in md
    assert "| 16 | 0.3" in md and "| - | - | - | - | - | - | only in A |" in md
    assert "Mann-Whitney" in md and "Threshold: 5%." in md and "within noise" not in md
    rows = list(csv.DictReader(io.StringIO(tables.render_compare(cmp, "csv"))))
    assert [r["procs"] for r in rows] == ["1", "2", "4", "8", "16"]
    assert rows[2]["verdict"] == "slower" and float(rows[2]["ratio_lo"]) == c4.ratio_lo
    assert rows[4]["b_time_s"] == "" and rows[4]["p_value"] == ""
    doc = json.loads(tables.render_compare(cmp, "json"))
    assert doc["threshold"] == 0.05 and doc["b"]["mpi"] == "Open MPI v5.0.3"
    assert doc["points"][4]["ratio"] is None and doc["points"][0]["verdict"] == "faster"
    assert len(doc["warnings"]) == len(cmp.warnings)


def test_a_difference_below_the_threshold_never_counts(tmp_path):
    # B is 3% slower, clearly (no overlap of any launch): significant, but below 5%
    a = build(tmp_path / "a", [launched(1, noisy(1.0, 1, cv=0.002))])
    b = build(tmp_path / "b", [launched(1, noisy(1.03, 2, cv=0.002))])
    sa, sb = store.load(a), store.load(b)
    c = compare.compare(sa, sb).points[0]
    assert c.p_value < 0.01 and c.ratio_lo > 1 and c.verdict == "no detectable difference"
    assert compare.compare(sa, sb, threshold=0.02).points[0].verdict == "slower"
    with pytest.raises(Exception, match="--threshold is a percentage"):
        compare.compare(sa, sb, threshold=-0.01)


def test_sweeps_of_one_launch_per_point_compare_with_too_few_samples(tmp_path):
    """Schema 1-2 files (ranks.csv without launch and round): one launch per point."""
    a = build(tmp_path / "a", [point(1, [4.0, 4.2, 3.9]), point(2, [2.0, 2.2, 1.9])])
    b = build(tmp_path / "b", [point(1, [2.0, 2.1, 1.8]), point(2, [2.1, 2.3, 2.0])])
    cmp = compare.compare(store.load(a), store.load(b))
    got = by_p(cmp)
    assert got[1].ratio == 0.5 and math.isnan(got[1].ratio_lo) and math.isnan(got[1].p_value)
    assert got[1].verdict == got[2].verdict == "too few samples"
    assert got[1].note == "too few samples: 1 launch in A, 5 needed"
    assert (got[1].a_launches, got[1].a_repeats) == (1, 3)
    assert "P=1, 2: too few launches for a verdict" in " | ".join(cmp.warnings)
    md = tables.render_compare(cmp, "markdown")
    assert "| 1 | 4 | 1 x 3 | 2 | 1 x 3 | 0.500 | - | - | too few samples | too few samples: 1 launch in A, 5 needed |" in md


def test_three_launches_give_neither_an_interval_nor_a_test(tmp_path):
    a = build(tmp_path / "a", [launched(1, noisy(1.0, 1, n=3))])
    b = build(tmp_path / "b", [launched(1, noisy(2.0, 2, n=3))])
    c = compare.compare(store.load(a), store.load(b)).points[0]
    assert math.isnan(c.ratio_lo) and math.isnan(c.p_value) and c.verdict == "too few samples"
    assert c.ratio == pytest.approx(2.0, rel=0.1) and "3 launches in A, 5 needed" in c.note


def test_failed_points_and_mismatched_sweeps_are_warned_not_refused(tmp_path):
    a = build(tmp_path / "a", [launched(1, noisy(4.0, 1)), launched(2, noisy(2.0, 2))])
    b = build(tmp_path / "b", [launched(1, noisy(4.0, 1), mode="weak"),
                               point(2, [], mode="weak", status="failed", verified=False, reason="timed out")],
              mode="weak", batch=8, pass_="train")
    cmp = compare.compare(store.load(a), store.load(b))
    got = by_p(cmp)
    assert got[2].note == "failed in B: timed out" and math.isnan(got[2].ratio) and got[2].verdict == ""
    assert got[1].ratio == 1.0 and got[1].verdict == "no detectable difference"
    w = " | ".join(cmp.warnings)
    assert "A is a strong sweep and B a weak sweep" in w
    assert "different workloads (batch 16 vs 8)" in w
    assert "A ran the forward pass and B the train pass" in w


def test_no_common_p(tmp_path):
    a = build(tmp_path / "a", [point(1, [4.0])])
    b = build(tmp_path / "b", [point(2, [2.0])])
    cmp = compare.compare(store.load(a), store.load(b))
    assert "no P in common" in " ".join(cmp.warnings)


def test_cli_threshold(tmp_path):
    a = build(tmp_path / "a", [launched(1, noisy(1.0, 1, cv=0.002))])
    b = build(tmp_path / "b", [launched(1, noisy(1.03, 2, cv=0.002))])
    p = invoke("compare", str(a), str(b), "--threshold", "2", "--format", "json")
    assert p.returncode == 0, p.stdout
    doc = json.loads(p.stdout)
    assert doc["threshold"] == 0.02 and doc["points"][0]["verdict"] == "slower"
    assert "| 1 |" in invoke("compare", str(a), str(b)).stdout
    for bad in ("-1", "100", "nan"):
        assert_clean_error(invoke("compare", str(a), str(b), "--threshold", bad), 2, "--threshold")


@pytest.mark.mpi
def test_cli_compares_two_real_sweeps(tmp_path):
    a, b = real_sweep("scatter"), real_sweep("local")
    p = run_cli("compare", str(a), str(b), "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)                       # warnings go to stderr, not into the JSON
    assert [x["procs"] for x in doc["points"]] == [1, 2]
    assert doc["a"]["data"] == "scatter" and doc["b"]["data"] == "local"
    for x in doc["points"]:
        assert x["ratio"] == pytest.approx(x["b_time_s"] / x["a_time_s"])
        assert x["verdict"] in uncertainty.VERDICTS
        if x["ratio_lo"] is not None:
            assert x["ratio_lo"] <= x["ratio"] <= x["ratio_hi"]
    assert "Traceback" not in p.stderr


def test_cli_refuses_two_launches_of_one_p_in_one_round(tmp_path):
    a = build(tmp_path / "a", [launched(1, noisy(1.0, 1))])
    row, ranks = launched(1, noisy(1.0, 2))
    b = build(tmp_path / "b", [(row, [{**r, "round": 0} for r in ranks])])
    assert_clean_error(invoke("compare", str(a), str(b)), 2, "ranks.csv", "two launches in round 0")


def test_cli_rejects_a_sweep_without_points(tmp_path):
    a = build(tmp_path / "a", [point(1, [1.0]), point(2, [0.6])])
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "manifest.json").write_text("{}")
    assert_clean_error(invoke("compare", str(a), str(tmp_path / "partial")), 2, "no point")
