"""`convbench compare A B`: the time ratio B/A per P with its spread, noise and mismatches."""
from __future__ import annotations

import csv
import io
import json
import math

import pytest

from conftest import assert_clean_error, invoke, run_cli
from handmade import build, point, real_sweep
from convbench.reporting import compare
from convbench.results import store
from convbench.reporting import tables


def by_p(cmp):
    return {c.procs: c for c in cmp.points}


def test_ratio_spread_noise_and_points_in_one_sweep_only(tmp_path):
    a = build(tmp_path / "a", [point(1, [4.0, 4.2, 3.9]), point(2, [2.0, 2.2, 1.9]),
                               point(4, [1.0, 1.1, 0.9])])
    b = build(tmp_path / "b", [point(1, [2.0, 2.1, 1.8]), point(2, [2.1, 2.3, 2.0]),
                               point(8, [0.4, 0.5, 0.45])], library="Open MPI v5.0.3, package")
    cmp = compare.compare(store.load(a), store.load(b))
    got = by_p(cmp)
    assert sorted(got) == [1, 2, 4, 8]
    # P=1: B/A = 2.0 / 4.0 with the spread [B min / A max, B max / A min] = [1.8/4.2, 2.1/3.9]
    assert (got[1].ratio, got[1].ratio_min, got[1].ratio_max) == pytest.approx((0.5, 1.8 / 4.2, 2.1 / 3.9))
    assert not got[1].overlap and got[1].note == ""
    # P=2: [1.9, 2.2] and [2.0, 2.3] overlap: within noise
    assert got[2].overlap and "within noise" in got[2].note
    assert got[4].note == "only in A" and math.isnan(got[4].ratio) and math.isnan(got[4].b_time_s)
    assert got[8].note == "only in B" and got[8].b_time_s == pytest.approx(0.45)
    w = " | ".join(cmp.warnings)
    assert "P=2: the min-max ranges of A and B overlap" in w
    assert "P=4 only in A" in w and "P=8 only in B" in w
    assert "different workloads" not in w                   # same workload, other MPI: fine
    assert cmp.a.mpi.startswith("MPICH") and cmp.b.mpi == "Open MPI v5.0.3"

    md = tables.render_compare(cmp, "markdown")
    assert "| 1 | 4 | [3.9, 4.2] | 2 | [1.8, 2.1] | 0.500 | [0.429, 0.538] | - |" in md
    assert "| 4 | 1 | [0.9, 1.1] | - | - | - | - | only in A |" in md
    assert "warning: P=2" in md
    rows = list(csv.DictReader(io.StringIO(tables.render_compare(cmp, "csv"))))
    assert [r["procs"] for r in rows] == ["1", "2", "4", "8"]
    assert float(rows[0]["ratio"]) == 0.5 and rows[1]["overlap"] == "true" and rows[2]["b_time_s"] == ""
    doc = json.loads(tables.render_compare(cmp, "json"))
    assert doc["points"][2]["ratio"] is None and doc["b"]["mpi"] == "Open MPI v5.0.3"
    assert len(doc["warnings"]) == len(cmp.warnings)


def test_failed_points_and_mismatched_sweeps_are_warned_not_refused(tmp_path):
    a = build(tmp_path / "a", [point(1, [4.0]), point(2, [2.0])])
    b = build(tmp_path / "b", [point(1, [4.0], mode="weak"),
                               point(2, [], mode="weak", status="failed", verified=False, reason="timed out")],
              mode="weak", batch=8, pass_="train")
    cmp = compare.compare(store.load(a), store.load(b))
    got = by_p(cmp)
    assert got[2].note == "failed in B: timed out" and math.isnan(got[2].ratio)
    assert got[1].ratio == 1.0 and got[1].overlap
    w = " | ".join(cmp.warnings)
    assert "A is a strong sweep and B a weak sweep" in w
    assert "different workloads (batch 16 vs 8)" in w
    assert "A ran the forward pass and B the train pass" in w


def test_no_common_p(tmp_path):
    a = build(tmp_path / "a", [point(1, [4.0])])
    b = build(tmp_path / "b", [point(2, [2.0])])
    cmp = compare.compare(store.load(a), store.load(b))
    assert "no P in common" in " ".join(cmp.warnings)


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
        assert x["ratio_min"] <= x["ratio"] <= x["ratio_max"]
    assert "Traceback" not in p.stderr


def test_cli_rejects_a_sweep_without_points(tmp_path):
    a = build(tmp_path / "a", [point(1, [1.0]), point(2, [0.6])])
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "manifest.json").write_text("{}")
    assert_clean_error(invoke("compare", str(a), str(tmp_path / "partial")), 2, "no point")
