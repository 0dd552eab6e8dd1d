"""The convbench command as a user runs it: real subprocesses, real mpiexec; usage errors
in-process (typer's CliRunner)."""
from __future__ import annotations

import json
import os

import pytest

from conftest import assert_clean_error, invoke, read_csv, run_cli, sweep_dirs


@pytest.mark.mpi
def test_strong_end_to_end(tmp_path):
    p = run_cli("strong", "--launches", "1", "--order", "sequential", "--procs", "1,2", "--preset", "tiny", "--repeats", "2", "--out", str(tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Traceback" not in p.stdout + p.stderr
    assert "strong scaling: tiny" in p.stdout and "verified" in p.stdout
    [d] = sweep_dirs(tmp_path)
    assert {f.name for f in d.iterdir()} >= {"manifest.json", "ranks.csv", "summary.csv", "points"}
    m = json.loads((d / "manifest.json").read_text())
    assert m["command"][:2] == ["convbench", "strong"]
    for key in ("python", "numpy", "mpi4py", "cpu_model", "cores_available", "kernel_build"):
        assert key in m["environment"]
    assert m["mpi"]["vendor"] in ("MPICH", "Open MPI", "Intel MPI") and m["mpi"]["library"]
    rows = read_csv(d / "summary.csv")
    assert [r["status"] for r in rows] == ["ok", "ok"]
    # a second sweep never overwrites the first
    p2 = run_cli("strong", "--launches", "1", "--order", "sequential", "--procs", "1", "--preset", "tiny", "--repeats", "1", "--out", str(tmp_path))
    assert p2.returncode == 0 and len(sweep_dirs(tmp_path)) == 2


@pytest.mark.mpi
def test_weak_and_run_end_to_end(tmp_path):
    p = run_cli("weak", "--launches", "1", "--order", "sequential", "--per-rank", "5", "--procs", "1,2,4", "--preset", "tiny", "--repeats", "1",
                "--data", "local", "--pass", "train", "--out", str(tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "oversubscribed" in p.stdout + p.stderr or os.cpu_count() >= 4
    rows = read_csv(sweep_dirs(tmp_path)[0] / "summary.csv")
    assert [int(r["batch"]) for r in rows] == [5, 10, 20]
    p = run_cli("run", "--launches", "1", "--order", "sequential", "-n", "2", "--preset", "tiny", "--out", str(tmp_path / "one"))
    assert p.returncode == 0, p.stdout + p.stderr
    [r] = read_csv(sweep_dirs(tmp_path / "one")[0] / "summary.csv")
    assert r["mode"] == "run" and r["procs"] == "2" and r["speedup"] == ""


@pytest.mark.mpi
def test_info_shows_versions_kernel_and_mpi():
    p = run_cli("info")
    assert p.returncode == 0, p.stderr
    for needle in ("convbench", "numpy", "cffi", "kernel", "mpiexec", "MPI vendor", "MPI library", "slots"):
        assert needle in p.stdout, p.stdout


def test_a_failed_point_is_recorded_and_exits_1(tmp_path):
    p = invoke("strong", "--launches", "1", "--order", "sequential", "--procs", "1,2", "--preset", "tiny", "--mpiexec", "false", "--out", str(tmp_path))
    assert_clean_error(p, 1, "2 point(s) failed")
    rows = read_csv(sweep_dirs(tmp_path)[0] / "summary.csv")
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert "exited with status 1" in rows[0]["reason"]


@pytest.mark.parametrize("args,needle", [
    (["--procs", ""], "--procs is empty"),
    (["--procs", "1,x"], "comma-separated integers"),
    (["--procs", "0,1"], "must be positive"),
    (["--procs", "-2"], "must be positive"),
    (["--procs", "2,2"], "more than once"),
    (["--batch", "0"], "--batch must be >= 1"),
    (["--preset", "nope"], "unknown preset"),
    (["--preset", "tiny", "--config", "x.toml"], "not both"),
    (["--config", "missing.toml"], "does not exist"),
    (["--pass", "sideways"], "--pass must be one of"),
    (["--data", "nowhere"], "--data must be one of"),
    (["--repeats", "0"], "--repeats must be"),
    (["--timeout", "0"], "--timeout must be"),
    (["--hostfile", "missing-hosts"], "does not exist"),
    (["--mpiexec", "no-such-mpiexec-here"], "not an executable"),
    (["--preset", "fat", "--batch", "100000"], "--force"),
    (["--mpi-args", "'unbalanced"], "cannot be split"),
])
def test_bad_input_gets_one_line_and_exit_2(tmp_path, args, needle):
    p = invoke("strong", "--launches", "1", "--order", "sequential", *args, "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert_clean_error(p, 2, needle)
    assert len([ln for ln in p.stderr.splitlines() if ln.strip()]) <= 2
    assert not (tmp_path / "out").exists() or not sweep_dirs(tmp_path / "out")


def test_bad_config_and_unwritable_out(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("batch = 4\nc_in = 1\nc_out = 1\nheight = 8\nwidth = 8\nkernel = 3\ncolour = 'red'\n")
    assert_clean_error(invoke("strong", "--launches", "1", "--order", "sequential", "--config", str(bad)), 2, "unknown key", "colour")
    big = tmp_path / "big.toml"
    big.write_text("batch = 4\nc_in = 1\nc_out = 1\nheight = 8\nwidth = 8\nkernel = 9\n")
    assert_clean_error(invoke("strong", "--launches", "1", "--order", "sequential", "--config", str(big)), 2, "larger than the padded image")
    assert_clean_error(invoke("weak", "--launches", "1", "--order", "sequential", "--per-rank", "0"), 2, "--per-rank must be >= 1")


def test_resume_refuses_what_it_cannot_continue(tmp_path):
    assert_clean_error(invoke("strong", "--resume", str(tmp_path)), 2, "not a convbench sweep directory")
    (tmp_path / "manifest.json").write_text("{broken")
    assert_clean_error(invoke("weak", "--resume", str(tmp_path)), 2, "corrupt")


@pytest.mark.mpi           # --out is checked after mpiexec --version
def test_out_that_is_a_file_is_refused(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("")
    assert_clean_error(invoke("strong", "--launches", "1", "--order", "sequential", "--preset", "tiny", "--out", str(afile)), 2, "not a directory")
