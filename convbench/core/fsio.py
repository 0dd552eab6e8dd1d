"""Writing files so that a reader never sees half of one."""
from __future__ import annotations

import os
from pathlib import Path

from convbench.core.errors import ConvbenchError


def atomic_write(path: str | Path, text: str, what: str | None = None) -> None:
    """Write text to a temporary file beside path, flush it to disk, then rename it over path:
    readers see the old file or the new one, never a part. A failure raises ConvbenchError
    naming `what` (default: the path) and leaves no temporary file behind."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        # never through a link planted under the temporary name (a directory from elsewhere)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o644)
        with open(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise ConvbenchError(f"cannot write {what or path}: {e.strerror or e}") from None
