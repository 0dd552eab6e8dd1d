"""A rank imports only what its point needs: every module at import time is a launch's fixed
cost, paid by every rank of every launch (benchmarks/launch_cost.py measures it)."""
from __future__ import annotations

import json
import subprocess
import sys

#: never in a rank of the default point: the CLI, the reports, the engine, the presets' TOML
#: reader and everything the ranks' import contract forbids
NOT_IN_A_RANK = ("typer", "rich", "pandas", "matplotlib", "scipy", "tomllib",
                 "importlib.resources", "subprocess", "convbench.engine", "convbench.reporting",
                 "convbench.cli", "concurrent.futures")


def test_a_ranks_imports_leave_out_what_it_does_not_use():
    code = ("import sys, json; import convbench.rank.worker, convbench.rank.batch, "
            "convbench.rank.verify; print(json.dumps(sorted(sys.modules)))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(p.stdout))
    assert "convbench.kernel" in loaded and "convbench.results.records" in loaded
    assert [m for m in NOT_IN_A_RANK if m in loaded] == []
