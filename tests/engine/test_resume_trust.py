"""A results directory is data: --resume, report, plot, compare, model and collect never run
what a manifest names, and a manifest's fields are checked like user input.

The crafted manifest names, as its mpiexec, its mpi_args and its hostfile, programs that would
each leave a marker file if anything ran them; the tests assert that no marker appears."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from conftest import assert_clean_error, invoke, run_cli, summary_by_procs, sweep_dirs


def tripwire(d: Path, name: str) -> tuple[Path, Path]:
    """An executable that creates `marker` whenever it runs, whatever its arguments."""
    marker = d / f"{name}.ran"
    prog = d / name
    prog.write_text(f"#!/bin/sh\ntouch {marker}\nexit 0\n")
    prog.chmod(prog.stat().st_mode | stat.S_IXUSR)
    return prog, marker


def manifest(d: Path) -> dict:
    return json.loads((d / "manifest.json").read_text())


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """A real one-point strong sweep (P=1), made once for the tests below."""
    out = tmp_path_factory.mktemp("measured")
    p = run_cli("strong", "--launches", "1", "--order", "sequential", "--preset", "tiny", "--procs", "1", "--repeats", "1", "--warmup", "0",
                "--out", str(out))
    assert p.returncode == 0, p.stdout + p.stderr
    [d] = sweep_dirs(out)
    return d


def craft(d: Path, tmp_path: Path) -> list[Path]:
    """Make d's manifest name tripwires as mpiexec, mpi_args and hostfile, and add P=2 so that
    a resume has a point to run; the markers the tripwires would leave."""
    mpiexec, m1 = tripwire(tmp_path, "evil-mpiexec")
    shell, m2 = tripwire(tmp_path, "evil-arg")
    hostfile = tmp_path / "evil-hosts"
    hostfile.write_text("-oProxyCommand=touch:1\n")
    m = manifest(d)
    m["mpi"]["mpiexec"] = str(mpiexec)
    m["sweep"]["mpi_args"] = ["-launcher-exec", str(shell)]
    m["sweep"]["hostfile"] = str(hostfile)
    m["sweep"]["procs"] = [1, 2]
    m["slurm"] = {"job_id": "--help", "state": "submitted"}
    (d / "manifest.json").write_text(json.dumps(m))
    return [m1, m2]


@pytest.mark.mpi
@pytest.mark.slow
def test_resume_runs_nothing_the_manifest_names(measured, tmp_path):
    import shutil
    d = tmp_path / "sweep"
    shutil.copytree(measured, d)
    markers = craft(d, tmp_path)
    p = run_cli("strong", "--resume", str(d))
    assert p.returncode == 0, p.stdout + p.stderr
    assert not any(m.exists() for m in markers), "a program named in the manifest ran"
    # one line each for what differs, naming the recorded setting
    assert "--resume uses --mpi-args (none) of this command line" in p.stderr
    assert "--resume uses --hostfile (none)" in p.stderr
    assert "evil-mpiexec" in p.stderr and "--mpiexec" in p.stderr
    rows = summary_by_procs(d)
    assert rows[1]["status"] == rows[2]["status"] == "ok"
    session = manifest(d)["sessions"][-1]
    assert session["changed"]["mpi_args"]["recorded"] == ["-launcher-exec", str(tmp_path / "evil-arg")]
    assert session["changed"]["mpi_args"]["now"] == []
    assert session["changed"]["mpiexec"]["recorded"].endswith("evil-mpiexec")
    assert session["launch"]["mpiexec"] == session["changed"]["mpiexec"]["now"]
    assert session["points_kept"] == [1] and session["points_run"] == [2]

    # reading it back runs nothing either
    for args in (["report", str(d)], ["plot", str(d), "--out", str(tmp_path / "figs")],
                 ["compare", str(d), str(measured)], ["model", str(d)]):
        r = run_cli(*args)
        assert r.returncode == 0, (args, r.stdout + r.stderr)
    r = run_cli("collect", str(d), env={"PATH": f"{tmp_path}:{os.environ['PATH']}"})
    assert_clean_error(r, 2, "slurm.job_id is not a job id")
    assert not any(m.exists() for m in markers), "a program named in the manifest ran"


@pytest.mark.parametrize("where, value, needle", [
    (("sweep", "procs"), "1; touch /tmp/x", "sweep.procs is a string, expected a list"),
    (("sweep", "procs"), [1, "2"], "sweep.procs[1] is a string, expected an integer"),
    (("sweep", "repeats"), 0, "--repeats must be >= 1"),
    (("sweep", "timeout"), -5, "timeout must be a number of seconds > 0"),
    (("sweep", "threads"), True, "sweep.threads is true or false, expected an integer"),
    (("sweep", "bind"), "core; touch /tmp/x", "is not a binding"),
    (("sweep", "mode"), "weak", "is a weak sweep"),
    (("sweep",), "[red]x[/red]", "sweep is a string, expected an object"),
    (("workload", "batch"), "a lot", "not a valid workload"),
    (("sessions",), {"x": 1}, "sessions is an object, expected a list"),
])
def test_a_manifest_is_checked_like_user_input(tmp_path, where, value, needle):
    d = tmp_path / "sweep"
    d.mkdir()
    m = {"schema_version": 2, "command": [], "workload": {"name": "tiny", "batch": 4, "c_in": 1,
         "c_out": 1, "height": 8, "width": 8, "kh": 3, "kw": 3},
         "sweep": {"mode": "strong", "procs": [1], "pass": "forward", "data": "scatter",
                   "hostfile": None, "mpi_args": [], "repeats": 1, "warmup": 0, "timeout": 60,
                   "verify": True, "force": False, "fail_fast": False},
         "mpi": {"mpiexec": "/nonexistent"}, "environment": {}, "sessions": []}
    obj = m
    for k in where[:-1]:
        obj = obj[k]
    obj[where[-1]] = value
    (d / "manifest.json").write_text(json.dumps(m))
    p = invoke("strong", "--resume", str(d))
    assert_clean_error(p, 2, needle)
    if isinstance(value, str) and value not in ("weak",):
        assert value not in p.stderr, "the error echoes what the file holds"


def test_a_manifest_that_is_not_json_is_named_not_echoed(tmp_path):
    d = tmp_path / "sweep"
    d.mkdir()
    (d / "manifest.json").write_bytes(b"\x1b[2J secret [bold]x[/bold]")
    p = invoke("strong", "--resume", str(d))
    assert_clean_error(p, 2, "manifest.json is unreadable or corrupt")
    assert "secret" not in p.stderr and "\x1b" not in p.stderr
