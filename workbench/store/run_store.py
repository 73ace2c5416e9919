"""The run store: records (parquet), residuals [example, layer, role, d_model] (safetensors shards), manifest.

A run is written shard by shard; each shard's files land atomically before the manifest names them, so
a killed collect loses at most the shard in flight and a re-run resumes after the last listed shard.
Each run gets an id when it is created (``run_id``, a uuid in the manifest), so copies of a run, or runs of
one config with another device or batch size, stay apart wherever results and figures are gathered.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from safetensors import safe_open
from safetensors.numpy import save as save_safetensors

from workbench.errors import WorkbenchError
from workbench.store.provenance import write_bytes_atomic, write_json_atomic

MANIFEST = "manifest.json"
STORE_FORMAT = 1


class RunWriter:
    """Appends shards to a run directory; resumes a run of the same config, refuses one of another."""

    def __init__(self, path: str | Path, header: dict[str, Any]):
        """``header`` holds provenance (config, config_hash, ...) and the layout (layers, roles, d_model, dtype)."""
        self.path = Path(path)
        manifest_path = self.path / MANIFEST
        if manifest_path.exists():
            existing = json.loads(manifest_path.read_text())
            if existing.get("config_hash") != header["config_hash"]:
                raise WorkbenchError(
                    f"{self.path} already holds a run of a different config (hash {existing.get('config_hash', '?')[:12]}"
                    f" vs {header['config_hash'][:12]}); choose another output directory or delete that one")
            self.manifest = existing
        elif self.path.exists() and any(not p.name.startswith(".") for p in self.path.iterdir()):
            raise WorkbenchError(f"{self.path} exists and is not a run directory; choose an empty or new directory")
        else:
            self.manifest = {**header, "format": STORE_FORMAT, "run_id": uuid.uuid4().hex, "shards": [],
                             "n_examples": 0, "complete": False}
            write_json_atomic(manifest_path, self.manifest)

    @property
    def n_done(self) -> int:
        return self.manifest["n_examples"]

    def append(self, records: Sequence[dict[str, Any]], residuals: np.ndarray) -> None:
        """One shard: records (one dict per example) and residuals [n, layer, role, d_model]."""
        if len(records) != len(residuals):
            raise ValueError(f"{len(records)} records but {len(residuals)} residual rows")
        index = len(self.manifest["shards"])
        start = self.n_done
        frame = pd.DataFrame(list(records))
        frame.insert(0, "example_id", np.arange(start, start + len(records)))
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        name = f"shard-{index:05d}"
        write_bytes_atomic(self.path / "records" / f"{name}.parquet", buffer.getvalue())
        resid = np.ascontiguousarray(residuals, dtype=self.manifest["dtype"])
        write_bytes_atomic(self.path / "activations" / f"{name}.safetensors", save_safetensors({"resid": resid}))
        self.manifest["shards"].append({"name": name, "start": start, "n": len(records)})
        self.manifest["n_examples"] = start + len(records)
        write_json_atomic(self.path / MANIFEST, self.manifest)

    def finish(self, **summary: Any) -> None:
        self.manifest.update(complete=True, **summary)
        write_json_atomic(self.path / MANIFEST, self.manifest)


class Run:
    """A stored run, read lazily: ``records`` loads the table, ``residuals`` one (layer, role) at a time."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        manifest = self.path / MANIFEST
        if not manifest.exists():
            raise WorkbenchError(f"{self.path} is not a run directory (no {MANIFEST}); run `workbench collect` first")
        self.manifest: dict[str, Any] = json.loads(manifest.read_text())

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, n_examples={self.n_examples}, model={self.model_name!r})"

    @property
    def config(self) -> dict[str, Any]:
        return self.manifest["config"]

    @property
    def run_id(self) -> str:
        """The id written when the run was created (derived from its path for runs stored before ids)."""
        return run_id_of(self.manifest, self.path)

    @property
    def complete(self) -> bool:
        """False while a collect is still to finish (killed or running)."""
        return bool(self.manifest.get("complete", True))

    @property
    def model_name(self) -> str:
        return self.manifest["model"].get("name", "?")

    @property
    def n_examples(self) -> int:
        return self.manifest["n_examples"]

    @property
    def roles(self) -> list[str]:
        return list(self.manifest["roles"])

    @property
    def n_layers(self) -> int:
        """Number of residual read-outs: resid_pre of each block, then the last block's resid_post."""
        return len(self.manifest["layers"])

    @property
    def layers(self) -> list[str]:
        """Hook name of each stored layer index."""
        return list(self.manifest["layers"])

    @property
    def d_model(self) -> int:
        return self.manifest["d_model"]

    @property
    def vocabulary(self):
        from workbench.prompts.vocabulary import ConfidenceVocabulary

        return ConfidenceVocabulary.from_dict(self.manifest["vocabulary"])

    @cached_property
    def records(self) -> pd.DataFrame:
        """One row per example, in example_id order."""
        frames = [pd.read_parquet(self.path / "records" / f"{s['name']}.parquet") for s in self.manifest["shards"]]
        if not frames:
            raise WorkbenchError(f"{self.path} holds no examples yet; run or resume `workbench collect`")
        return pd.concat(frames, ignore_index=True)

    def confidence_probs(self) -> np.ndarray:
        """[n_examples, n_vocabulary] probability of each confidence string at the confidence slot."""
        return np.stack(self.records["confidence_probs"].to_numpy())

    def _check(self, layer: int, role: str) -> int:
        if not isinstance(layer, (int, np.integer)) or not 0 <= layer < self.n_layers:
            raise WorkbenchError(f"layer {layer} out of range: this run stored layers 0..{self.n_layers - 1}")
        if role not in self.roles:
            raise WorkbenchError(f"role {role!r} not stored in this run; stored roles: {', '.join(self.roles)}")
        return self.roles.index(role)

    def residuals(self, layer: int, role: str) -> np.ndarray:
        """[n_examples, d_model] residual stream at one layer and role, read without loading the rest."""
        r = self._check(layer, role)
        parts = []
        for shard in self.manifest["shards"]:
            with safe_open(self.path / "activations" / f"{shard['name']}.safetensors", framework="numpy") as handle:
                parts.append(handle.get_slice("resid")[:, layer:layer + 1, r:r + 1, :][:, 0, 0, :])
        return np.concatenate(parts).astype(np.float32)


def run_id_of(manifest: dict[str, Any], path: str | Path) -> str:
    """A run's id: the one in its manifest, else one derived stably from where its manifest really lies (so a
    sweep's views of one run, which link to its manifest, share it)."""
    where = (Path(path) / MANIFEST).resolve().parent
    return manifest.get("run_id") or uuid.uuid5(uuid.NAMESPACE_URL, where.as_uri()).hex


def open_run(path: str | Path) -> Run:
    """Open a stored run for reading."""
    return Run(path)
