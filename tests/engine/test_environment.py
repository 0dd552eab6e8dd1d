"""The manifest's facts about the machine: what a figure depends on is recorded."""
from __future__ import annotations

from pathlib import Path

from convbench.engine import environment


def test_huge_pages_are_recorded_as_the_kernel_and_numpy_have_them(monkeypatch):
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    hp = environment.huge_pages()
    assert hp["numpy_madvise"] == "default (1)"
    sysfs = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    if sysfs.is_file():             # the bracketed word of the kernel's setting
        assert hp["enabled"] in ("always", "madvise", "never")
        assert f"[{hp['enabled']}]" in sysfs.read_text()
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "0")
    assert environment.huge_pages()["numpy_madvise"] == "0"
    assert environment.describe()["huge_pages"]["numpy_madvise"] == "0"
