"""Output folders are checked before any work: a path under a file, or where nothing can be written, is one
clear error at the start, not a traceback after the model has loaded (minutes on a big model)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from workbench.errors import WorkbenchError


def check_output_dir(path: str | Path, what: str = "--out") -> Path:
    """``path`` as a Path, once it is sure that it is (or can be made) a directory this process can write in.

    Checked by writing: the nearest existing folder on the path must be a directory, and an empty directory
    must be creatable in it (permission bits say too little: root, read-only mounts, ACLs).
    """
    path = Path(path)
    existing = next(p for p in (path, *path.parents) if p.exists() or p == Path(p.anchor) or p == Path("."))
    if not existing.is_dir():
        where = "is a file" if existing == path else f"is inside the file {existing}"
        raise WorkbenchError(f"{what} {path} {where}; choose a directory path")
    try:
        os.rmdir(tempfile.mkdtemp(dir=existing, prefix=".workbench-write-check-"))
    except OSError as error:
        raise WorkbenchError(f"{what} {path}: cannot write in {existing} ({error.strerror}); choose a writable "
                             "directory") from None
    return path
