"""convbench: strong and weak MPI scaling benchmarks of a C 2-D convolution layer.

The package stays import-light: submodules (kernel, reference, ...) import numpy and the
compiled extension themselves.

A source checkout that was installed with ``pip install .`` (not editable) has no compiled
extension in its own ``convbench/`` folder; the installed copy has it. Python puts the current
directory first on ``sys.path`` for ``python -m``, so ``python -m convbench`` - and every MPI
rank, which runs ``python -m convbench.rank.worker`` from the user's directory - would import
the checkout instead of the installed package and fail to load the kernel. When this module is
such a checkout and an installed convbench with its extension is on the path, it hands the
import over to the installed package (a module may replace itself in ``sys.modules`` while it
is imported), so the installed package runs wherever the user stands.
"""
import os as _os
import sys as _sys

__version__ = "0.1.0"


def _has_extension(folder: str) -> bool:
    try:
        return any(n.startswith("_native.") and n.endswith((".so", ".pyd"))
                   for n in _os.listdir(folder))
    except OSError:
        return False


def _installed_elsewhere():
    """The spec of another convbench package on sys.path that has its compiled extension, when
    this one (a source checkout) has none; else None."""
    here = _os.path.dirname(_os.path.abspath(__file__))
    if _has_extension(here):
        return None
    from importlib.machinery import PathFinder
    root = _os.path.dirname(here)
    others = [p for p in _sys.path
              if _os.path.abspath(p or _os.curdir) != root and _os.path.isdir(p or _os.curdir)]
    spec = PathFinder.find_spec(__name__, others)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = list(spec.submodule_search_locations)[0]
    if _os.path.abspath(folder) == here or not _has_extension(folder):
        return None
    return spec


def _hand_over(spec) -> None:
    import importlib.util
    module = importlib.util.module_from_spec(spec)
    _sys.modules[__name__] = module
    spec.loader.exec_module(module)


_spec = _installed_elsewhere()
if _spec is not None:
    _hand_over(_spec)
del _spec
