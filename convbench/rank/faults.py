"""The test-only fault switch of the worker (the robustness tests kill, stall or cripple a rank).

Inert unless the environment carries BOTH ``CONVBENCH_TEST_FAULTS=1`` and
``CONVBENCH_TEST_FAULT``, a JSON object such as
``{"kind": "kill"|"sleep"|"exit"|"skip", "rank": 1, "procs": 2, "where": "compute"|"setup"}``
(procs: only at that rank count), so no user can trigger it by accident.
"""
from __future__ import annotations

import json
import os
import time


def maybe_fault(rank: int, size: int, where: str) -> bool:
    """Carry out the fault meant for this rank, P and place; True for "skip" (reproduce the
    original bug: the caller then computes only part of its share)."""
    if os.environ.get("CONVBENCH_TEST_FAULTS") != "1" or "CONVBENCH_TEST_FAULT" not in os.environ:
        return False
    fault = json.loads(os.environ["CONVBENCH_TEST_FAULT"])
    if fault.get("rank", 0) != rank or fault.get("where", "compute") != where:
        return False
    if fault.get("procs") not in (None, size):
        return False
    kind = fault.get("kind")
    if kind == "kill":
        import signal
        os.kill(os.getpid(), signal.SIGKILL)
    elif kind == "sleep":
        time.sleep(float(fault.get("seconds", 3600)))
    elif kind == "exit":
        os._exit(int(fault.get("code", 3)))
    return kind == "skip"
