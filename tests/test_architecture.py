"""The package's shape: the import-linter contracts in pyproject.toml hold, and no module grows
past the size a reader can hold in mind (Python 400 lines, C 800 lines)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PY_MAX, C_MAX = 400, 800


def test_import_contracts_are_kept():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if lint is None:
        pytest.fail("lint-imports is missing: install the test extras (pip install -e '.[test]')")
    p = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "0 broken" in p.stdout, p.stdout


def _long(files, limit):
    return {str(f.relative_to(ROOT)): n for f in files
            if (n := len(f.read_text(encoding="utf-8").splitlines())) > limit}


def test_python_modules_are_small():
    assert _long(sorted((ROOT / "convbench").rglob("*.py")), PY_MAX) == {}


def test_c_files_are_small():
    assert _long(sorted((ROOT / "native").glob("*.[ch]")), C_MAX) == {}
