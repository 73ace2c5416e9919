"""Finished chunks of long work, kept on disk so that a killed job resumes after its last chunk.

``ChunkStore(folder, digest)`` holds ``<unit>.parquet`` files and ``progress.json`` (the config digest and
the finished units, in order), each written atomically; a folder holding chunks of another digest is refused
unless the caller removes it first (``overwrite``). Used by patching, steering and the sampling channels.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.store.provenance import write_bytes_atomic, write_json_atomic

PROGRESS = "progress.json"


class ChunkStore:
    """Finished units of one job (by ``digest``) under ``folder``."""

    def __init__(self, folder: str | Path, digest: str, *, what: str = "job", overwrite: bool = False):
        self.folder, self.digest = Path(folder), digest
        progress = self.folder / PROGRESS
        if overwrite:
            self.remove()
        self.done: list[str] = []
        if progress.exists():
            state = json.loads(progress.read_text())
            if state.get("digest", state.get("config_hash")) != digest:  # config_hash: older patching runs
                raise WorkbenchError(f"{self.folder} holds an unfinished {what} of another config; pass "
                                     "overwrite=True (--overwrite) to replace it, or keep that config")
            self.done = list(state["done"])

    def get(self, unit: str) -> pd.DataFrame | None:
        """The stored chunk, or None when it has not been finished."""
        return pd.read_parquet(self.folder / f"{unit}.parquet") if unit in self.done else None

    def put(self, unit: str, frame: pd.DataFrame) -> pd.DataFrame:
        """Store a finished chunk (its file first, then the list that names it)."""
        write_bytes_atomic(self.folder / f"{unit}.parquet", frame.to_parquet(index=False))
        self.done.append(unit)
        write_json_atomic(self.folder / PROGRESS, {"digest": self.digest, "done": self.done})
        return frame

    def frames(self) -> list[pd.DataFrame]:
        """Every finished chunk, in the order it was stored."""
        return [self.get(unit) for unit in self.done]

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
