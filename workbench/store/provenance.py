"""Provenance for every stored artifact (config hash, library versions, git commit, model checksum), and the
atomic writers every stored file goes through.

Atomic writes go through a temporary file (``mkstemp``: mode 0600) or directory (``mkdtemp``: 0700) that is
renamed into place; ``honour_umask`` gives what is published the mode a plain ``open``/``mkdir`` would have
(0644/0755 under umask 022), so runs, results and the model cache can be shared. The config hash is
``configs.base.config_hash``."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from workbench.configs.base import config_hash
from workbench.files import current_umask, honour_umask  # noqa: F401 (honour_umask: for what the store publishes)

PACKAGES = ("confidence-workbench", "torch", "transformers", "transformer-lens", "nnsight", "numpy", "scikit-learn",
            "safetensors", "pandas", "peft")


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit() -> dict[str, Any]:
    """The workbench's git commit and whether its tree has uncommitted changes (None outside a checkout)."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    if commit.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def provenance(config: dict[str, Any], model_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """The block stored beside every result."""
    return {"config": config, "config_hash": config_hash(config), "versions": library_versions(),
            "git": git_commit(), "model": model_info or {}}


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that a reader sees the old file or the new one, never half of one."""
    write_bytes_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=str).encode())


def write_bytes_atomic(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp's 0600 would hide the file from everyone else
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
