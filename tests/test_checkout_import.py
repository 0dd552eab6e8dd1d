"""A source checkout without its compiled extension (installed with plain `pip install .`)
hands `import convbench` over to the installed package, so `python -m convbench` and the ranks'
`python -m convbench.rank.worker` work from the clone's root."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import convbench

INSTALLED = Path(convbench.__file__).resolve().parent      # this test run's package, with _native


def _checkout(tmp_path: Path) -> Path:
    """A clone's root: convbench/ holds the sources (here: only __init__.py) and no extension."""
    root = tmp_path / "clone"
    (root / "convbench").mkdir(parents=True)
    shutil.copy(INSTALLED / "__init__.py", root / "convbench" / "__init__.py")
    return root


def _python(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(INSTALLED.parent)}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_the_checkout_hands_over_to_the_installed_package(tmp_path):
    root = _checkout(tmp_path)
    p = _python(root, "-c", "import convbench, convbench.kernel; print(convbench.__file__); "
                            "print(convbench.kernel.max_threads() >= 1)")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == [str(INSTALLED / "__init__.py"), "True"]


def test_python_m_convbench_and_the_rank_program_run_from_the_clone_root(tmp_path):
    root = _checkout(tmp_path)
    p = _python(root, "-m", "convbench", "--version")
    assert p.returncode == 0 and convbench.__version__ in p.stdout, p.stdout + p.stderr
    p = _python(root, "-m", "convbench.rank.worker")            # no arguments: its usage line
    assert p.returncode == 2 and "usage: python -m convbench.rank.worker" in p.stderr, p.stderr


def test_without_an_installed_copy_the_checkout_says_how_to_build(tmp_path):
    root = _checkout(tmp_path)
    shutil.copytree(INSTALLED, root / "convbench", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("_native*", "__pycache__"))
    # this Python, less every other place a convbench could come from (editable finders too)
    code = ("import os, sys\n"
            "sys.path[:] = [''] + [p for p in sys.path[1:] if p and not os.path.isdir(os.path.join(p, 'convbench'))]\n"
            "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]\n"
            "import convbench.kernel\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                       timeout=120, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert p.returncode != 0
    assert "the compiled kernel convbench._native cannot be loaded" in p.stderr, p.stderr
