"""NaN and infinity cells of a results table are read as missing values, with one warning line
naming the row; a point that lost its time is read as failed. No report tracebacks on them."""
from __future__ import annotations

import csv

import pytest

from conftest import invoke
from handmade import synthetic


def spoil(d, changes: dict[int, dict]) -> None:
    """Overwrite cells of summary.csv: {row index: {column: text}}."""
    f = d / "summary.csv"
    with open(f, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for i, cells in changes.items():
        rows[i].update(cells)
    with open(f, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


@pytest.mark.parametrize("command", [["report"], ["model"], ["plot", "--out", "FIGS"]])
def test_nan_and_inf_cells_are_missing_values_with_a_warning(tmp_path, command):
    d = synthetic(tmp_path / "s", procs=(1, 2, 4))
    spoil(d, {0: {"time_s": "nan"}, 2: {"speedup": "inf", "efficiency": "-inf"}})
    args = [a.replace("FIGS", str(tmp_path / "figs")) for a in command]
    p = invoke(args[0], str(d), *args[1:])
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"summary.csv, line 2 (P=1): time_s not a finite number; read as missing and the point as failed" in p.stderr
    assert "line 4 (P=4): speedup, efficiency not a finite number; read as missing" in p.stderr
    if args[0] != "plot":
        assert " inf " not in p.stdout and "| inf" not in p.stdout


def test_a_clean_sweep_has_no_warning(tmp_path):
    from convbench.results import store
    assert store.load(synthetic(tmp_path / "s", procs=(1, 2))).warnings == ()
