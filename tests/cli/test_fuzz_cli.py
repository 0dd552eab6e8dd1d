"""Random argument strings against the CLI: whatever the input, no traceback, ever.

Runs in-process (typer's CliRunner) with a bounded number of seeded examples. Sweeps that do
start are kept tiny: the generated arguments are followed by ``--preset tiny --repeats 1
--warmup 0 --launches 1`` (click lets the last occurrence of an option win), and numbers are drawn from
ranges that cannot ask for minutes of work.
"""
from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from typer.testing import CliRunner

from convbench.cli import app

COMMANDS = ["strong", "weak", "run", "info", "--version", "--help", "bogus", ""]
OPTIONS = ["--procs", "-p", "--preset", "--config", "--batch", "--per-rank", "--pass", "--data",
           "--repeats", "--warmup", "--timeout", "--hostfile", "--mpiexec", "--mpi-args", "--seed",
           "--no-verify", "--force", "--fail-fast", "--resume", "-n", "--out", "--unknown"]
WORDS = ["forward", "backward", "train", "scatter", "local", "fat", "light", "tiny", "nope",
         "1,2", "1,,2", "0", "-1", "2,2", "1,x", "", " ", "1e3", "nan", "inf", "-", "--",
         "/dev/null", "/nonexistent/dir", ".", "'", "\"unbalanced", "\x00"[:0] + "é∂ƒ"]
value = st.one_of(
    st.sampled_from(WORDS),
    st.integers(-3, 4).map(str),
    st.integers(10**12, 10**20).map(str),
    st.lists(st.integers(-2, 4), min_size=0, max_size=4).map(lambda v: ",".join(map(str, v))),
    st.text(alphabet=string.printable, max_size=12),
)
token = st.one_of(st.sampled_from(OPTIONS), value)


@pytest.mark.mpi          # the arguments that make a valid sweep run it
@pytest.mark.slow
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(cmd=st.sampled_from(COMMANDS), args=st.lists(token, max_size=6))
def test_random_arguments_never_raise(tmp_path_factory, cmd, args):
    out = tmp_path_factory.mktemp("fuzz")
    argv = ([cmd] if cmd else []) + args
    if cmd in ("strong", "weak", "run"):
        argv += ["--preset", "tiny", "--repeats", "1", "--warmup", "0", "--timeout", "60",
                 "--launches", "1", "--out", str(out)]
    result = CliRunner().invoke(app, argv, catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{argv!r} raised {result.exception!r}")
    assert "Traceback" not in result.output, argv
    assert result.exit_code in (0, 1, 2), (argv, result.exit_code, result.output)
