"""Where the sampling channels of a run live: ``RUN/sampling/`` (per-example chunks + manifest), and reading them.

The folder is written by ``workbench.sampling.sample_channels`` chunk by chunk (``ChunkStore``); its
``manifest.json`` appears last, with provenance and ``complete``. Only a complete table of this run is read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.store.run_store import Run

SAMPLING_DIR = "sampling"
# channel -> column of the sampling table (each a confidence in [0, 1])
SAMPLING_CHANNELS: dict[str, str] = {"self_consistency": "self_consistency", "semantic_entropy": "semantic_entropy",
                                     "p_true": "p_true"}


def sampling_dir(run_path: str | Path) -> Path:
    return Path(run_path) / SAMPLING_DIR


def read_sampling(run: Run) -> pd.DataFrame | None:
    """The run's complete sampling table (one row per example, example_id order), or None when there is none."""
    folder = sampling_dir(run.path)
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        return None
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("run_config_hash") != run.manifest.get("config_hash"):
        raise WorkbenchError(f"{folder} was sampled from another run (config hash differs); re-run `workbench sample`"
                             " with --overwrite")
    frame = pd.concat([pd.read_parquet(folder / f"{unit}.parquet") for unit in manifest["chunks"]], ignore_index=True)
    return frame.sort_values("example_id", ignore_index=True)
