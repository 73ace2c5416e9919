"""The run store: records (parquet), residuals [example, read-out, role, d_model] (safetensors shards), manifest.

The residuals hold the read-outs ``stored_readouts`` and the roles ``roles`` the collect chose (all by default), in
float32, float16 or bfloat16 (manifest ``dtype``); ``Run.residuals`` reads them back as float32.

A run is written shard by shard; each shard's files land atomically before the manifest names them, so
a killed collect loses at most the shard in flight and a re-run resumes after the last listed shard.
Each run gets an id when it is created (``run_id``, a uuid in the manifest), so copies of a run, or runs of
one config with another device or batch size, stay apart wherever results and figures are gathered.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors import safe_open
from safetensors.torch import save as save_safetensors

from workbench.errors import WorkbenchError, did_you_mean
from workbench.layer_selection import layer_index, readout_of_hook
from workbench.store.provenance import write_bytes_atomic, write_json_atomic

MANIFEST = "manifest.json"
# 2: the record column ``argmax`` became ``argmax_confidence`` (it shadowed pandas' ``.argmax``); format-1 runs
# are read through a rename, never appended to.
STORE_FORMAT = 2
RENAMED_COLUMNS = {1: {"argmax": "argmax_confidence"}}


def config_differences(stored: dict[str, Any], asked: dict[str, Any]) -> str:
    """Each field two configs set differently, with both values (``limit: 24 there, 16 here``); '' when none."""
    def value(config: dict[str, Any], key: str) -> str:
        return repr(config[key]) if key in config else "not set"

    keys = [k for k in dict.fromkeys([*stored, *asked]) if (k in stored, stored.get(k)) != (k in asked, asked.get(k))]
    return "; ".join(f"{key}: {value(stored, key)} there, {value(asked, key)} here" for key in keys)


class RunWriter:
    """Appends shards to a run directory; resumes a run of the same config, refuses one of another."""

    def __init__(self, path: str | Path, header: dict[str, Any]):
        """``header`` holds provenance (config, config_hash, ...) and the layout (layers, roles, d_model, dtype)."""
        self.path = Path(path)
        manifest_path = self.path / MANIFEST
        if manifest_path.exists():
            existing = json.loads(manifest_path.read_text())
            if existing.get("format") != STORE_FORMAT:
                raise WorkbenchError(
                    f"{self.path} holds a run of store format {existing.get('format')} (this version writes "
                    f"{STORE_FORMAT}) and cannot be resumed; collect into a new directory (or delete this one)")
            if existing.get("config_hash") != header["config_hash"]:
                differ = config_differences(existing.get("config") or {}, header.get("config") or {})
                what = differ or f"hash {existing.get('config_hash', '?')[:12]} there, {header['config_hash'][:12]} here"
                raise WorkbenchError(
                    f"{self.path} already holds a run of a different config ({what}); collect into another output "
                    "directory (or delete that one), or give the stored values to resume it")
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
        start, name = self.n_done, f"shard-{len(self.manifest['shards']):05d}"
        frame = pd.DataFrame(list(records))
        frame.insert(0, "example_id", np.arange(start, start + len(records)))
        write_bytes_atomic(self.path / "records" / f"{name}.parquet", frame.to_parquet(index=False))
        resid = stored_tensor(residuals, self.manifest["dtype"], start, self.manifest.get("stored_readouts"))
        write_bytes_atomic(self.path / "activations" / f"{name}.safetensors", save_safetensors({"resid": resid}))
        self.manifest["shards"].append({"name": name, "start": start, "n": len(records)})
        self.manifest["n_examples"] = start + len(records)
        write_json_atomic(self.path / MANIFEST, self.manifest)

    def finish(self, **summary: Any) -> None:
        self.manifest.update(complete=True, **summary)
        write_json_atomic(self.path / MANIFEST, self.manifest)


def stored_tensor(residuals: np.ndarray, dtype: str, start: int = 0, readouts: Sequence[int] | None = None
                  ) -> torch.Tensor:
    """``residuals`` [n, read-out, role, d_model] in the store's ``dtype``; refused, saying why, where a finite value
    would not survive the cast (float16 overflows above 65504: the residual stream of a large model can reach that).
    ``start`` is the first example's id and ``readouts`` the read-out of each index of axis 1 (for the message)."""
    values = torch.from_numpy(np.ascontiguousarray(residuals, dtype=np.float32))
    cast = values.to(getattr(torch, dtype))
    lost = torch.isfinite(values) & ~torch.isfinite(cast)
    if lost.any():
        where = np.argwhere(lost.numpy())[0]
        readout = (readouts or range(values.shape[1]))[int(where[1])]
        raise WorkbenchError(
            f"store dtype {dtype} cannot hold these residuals: {int(lost.sum())} value(s) overflow it (largest "
            f"|value| {float(values.abs().max()):.4g}, {dtype}'s largest {torch.finfo(cast.dtype).max:.4g}; first at "
            f"example {start + int(where[0])}, read-out {readout}); collect with --store-dtype bfloat16 (float32's "
            "range, half the bytes) or float32")
    return cast.contiguous()


@dataclass(frozen=True)
class Example:
    """One stored example: its record, the token ids the model saw, and the token index of each role.

    ``row`` is its index in ``run.records`` (and in ``run.residuals(...)``); ``input_ids`` end at the
    confidence slot; ``positions[role]`` indexes ``input_ids``.
    """

    example_id: int
    row: int
    record: pd.Series
    input_ids: list[int]
    positions: dict[str, int]


class Run:
    """A stored run, read lazily: ``records`` loads the table, ``residuals`` one (read-out, role) at a time.

    Layer vocabulary: the model has ``n_blocks`` blocks; the store keeps ``n_blocks + 1`` residual
    read-outs, named by ``readouts``: read-out ``L < n_blocks`` is ``blocks.L.hook_resid_pre`` and the last
    one is the last block's ``hook_resid_post``. Indices count Python style (``-1`` is the last read-out).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        manifest = self.path / MANIFEST
        if not manifest.exists():
            raise WorkbenchError(f"{self.path} is not a run directory (no {MANIFEST}); run `workbench collect` first")
        self.manifest: dict[str, Any] = json.loads(manifest.read_text())
        version = self.manifest.get("format")
        if version != STORE_FORMAT and version not in RENAMED_COLUMNS:
            raise WorkbenchError(f"{self.path} was written in run-store format {version}, which this version "
                                 f"(format {STORE_FORMAT}) cannot read; re-collect it with `workbench collect`")

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
        """The position roles whose residuals are stored (``collect --store-roles``; every role by default)."""
        return list(self.manifest["roles"])

    @property
    def readouts(self) -> list[str]:
        """Hook name of each residual read-out of the model, by index (``n_blocks + 1`` of them); those stored are
        ``stored_readouts``."""
        return list(self.manifest["layers"])

    @property
    def stored_readouts(self) -> list[int]:
        """Indices of the read-outs whose residuals are stored (``collect --store-readouts``; all by default)."""
        return list(self.manifest.get("stored_readouts", range(len(self.manifest["layers"]))))

    @property
    def n_blocks(self) -> int:
        """Number of blocks of the model that made the run (``model.n_layers``)."""
        return len(self.manifest["layers"]) - 1

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
        return pd.concat(frames, ignore_index=True).rename(columns=RENAMED_COLUMNS.get(self.manifest.get("format"), {}))

    def confidence_probs(self) -> np.ndarray:
        """[n_examples, n_vocabulary] probability of each confidence string at the confidence slot."""
        return np.stack(self.records["confidence_probs"].to_numpy())

    def example(self, example_id: int) -> Example:
        """One example by its ``example_id`` (its row in ``records``; negative counts from the end)."""
        ids = self.records["example_id"].to_numpy()
        if isinstance(example_id, (bool, np.bool_)) or not isinstance(example_id, (int, np.integer)):
            raise WorkbenchError(f"example must be an integer example_id, got {example_id!r}")
        if example_id < 0:
            example_id = int(ids[layer_index(example_id, len(ids), "example", "examples")])
        rows = np.flatnonzero(ids == example_id)
        if not len(rows):
            raise WorkbenchError(f"example {example_id} is not in this run: it holds example_id "
                                 f"{ids.min()}..{ids.max()}")
        record = self.records.iloc[int(rows[0])]
        positions = {str(c).removeprefix("pos_"): int(record[c]) for c in record.index if str(c).startswith("pos_")}
        return Example(int(example_id), int(rows[0]), record, [int(t) for t in record["input_ids"]], positions)

    def prompt_ids(self, example_id: int, role: str = "confidence_slot") -> list[int]:
        """The example's token ids up to and including the token at ``role``.

        At the default role these are exactly the ids whose next-token distribution is the stored
        confidence read-out: ``model.confidence(run.prompt_ids(i))`` recomputes it.
        """
        example = self.example(example_id)
        if role not in example.positions:
            raise WorkbenchError(f"role {role!r} not stored in this run.{did_you_mean(str(role), example.positions)}"
                                 f" Stored roles: {', '.join(example.positions)}")
        return example.input_ids[:example.positions[role] + 1]

    def _check(self, readout: int | str, role: str) -> tuple[int, int]:
        """(read-out axis, role axis) of the stored residuals; one error naming what is stored for any other."""
        readout = readout_of_hook(readout, self.n_blocks) if isinstance(readout, str) else readout
        readout = layer_index(readout, len(self.readouts), "readout", "read-outs in this run")
        stored = self.stored_readouts
        if readout not in stored:
            raise WorkbenchError(
                f"read-out {readout} ({self.readouts[readout]}) is not stored in this run: it stores read-outs "
                f"{', '.join(map(str, stored))} of 0..{self.n_blocks} (collect --store-readouts); choose one of those, "
                "or collect again with it")
        if role not in self.roles:
            raise WorkbenchError(f"role {role!r} not stored in this run.{did_you_mean(str(role), self.roles)} "
                                 f"Stored roles: {', '.join(self.roles)}")
        return stored.index(readout), self.roles.index(role)

    def residuals(self, readout: int | str, role: str = "confidence_slot") -> np.ndarray:
        """[n_examples, d_model] residual stream at one read-out and role, read without loading the rest.

        ``readout`` is an index into ``readouts`` (negative counts from the end: ``-1`` is the last block's
        ``resid_post``) or a residual hook name: ``"blocks.3.hook_resid_post"`` is read-out 4.
        """
        layer, r = self._check(readout, role)
        parts = []
        for shard in self.manifest["shards"]:
            with safe_open(self.path / "activations" / f"{shard['name']}.safetensors", framework="pt") as handle:
                parts.append(handle.get_slice("resid")[:, layer:layer + 1, r:r + 1, :][:, 0, 0, :].float().numpy())
        return np.concatenate(parts)


def run_id_of(manifest: dict[str, Any], path: str | Path) -> str:
    """A run's id: the one in its manifest, else one derived stably from where its manifest really lies (so a
    sweep's views of one run, which link to its manifest, share it)."""
    where = (Path(path) / MANIFEST).resolve().parent
    return manifest.get("run_id") or uuid.uuid5(uuid.NAMESPACE_URL, where.as_uri()).hex


def open_run(path: str | Path) -> Run:
    """Open a stored run for reading."""
    return Run(path)
