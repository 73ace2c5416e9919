"""Saved probe weights: one linear read-out per (layer, role) as safetensors, with a JSON sidecar.

A saved probe is ``logit = x @ weight + bias`` on the raw residual stream x [d_model] at one hook point
and role, so later work (fine-tuning targets, steering) can use it without scikit-learn. The sidecar
(and the safetensors header, which holds the same JSON) names the model checksum, hook, layer index,
role, number of stored read-outs and d_model, so a probe can be checked against a model before use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save as save_safetensors

from workbench.errors import WorkbenchError
from workbench.store.provenance import write_bytes_atomic, write_json_atomic

PROBE_FORMAT = 1
REQUIRED = ("model_checksum", "hook", "layer", "role", "n_readouts", "d_model")


@dataclass(frozen=True)
class SavedProbe:
    """A linear probe read back from disk: weight [d_model], bias, and what it was fitted on (``meta``)."""

    weight: np.ndarray  # [d_model] float32
    bias: float
    meta: dict[str, Any]

    def decision_function(self, X) -> np.ndarray:
        """[n] logit of "correct" for residuals X [n, d_model]."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.weight.shape[0]:
            raise WorkbenchError(f"probe expects residuals [n, {self.weight.shape[0]}], got {list(X.shape)}")
        return X @ self.weight.astype(np.float64) + self.bias

    def probability(self, X) -> np.ndarray:
        """[n] probability of "correct"."""
        return 1.0 / (1.0 + np.exp(-self.decision_function(X)))

    def check_compatible(self, *, checksum: str | None = None, d_model: int | None = None,
                         n_readouts: int | None = None) -> None:
        """Raise a clear error when this probe was fitted on another model or layout than the one given."""
        meta = self.meta
        if checksum is not None and meta["model_checksum"] != checksum:
            raise WorkbenchError(f"probe was fitted on model {meta.get('model_name', '?')} with checksum "
                                 f"{str(meta['model_checksum'])[:19]}, not on this one ({checksum[:19]})")
        if d_model is not None and meta["d_model"] != d_model:
            raise WorkbenchError(f"probe has d_model {meta['d_model']}, the model has {d_model}")
        stored = meta.get("n_readouts", meta.get("n_layers"))  # probes saved before the rename say n_layers
        if n_readouts is not None and stored != n_readouts:
            raise WorkbenchError(f"probe came from a run with {stored} residual read-outs, not {n_readouts}")


def save_probe(path: str | Path, coef: np.ndarray, intercept: float, meta: dict[str, Any]) -> Path:
    """Write ``path`` (.safetensors) and ``path.with_suffix('.json')``; ``meta`` must hold ``REQUIRED`` keys."""
    path = Path(path).with_suffix(".safetensors")
    missing = [key for key in REQUIRED if key not in meta]
    if missing:
        raise WorkbenchError(f"probe metadata lacks {', '.join(missing)}")
    weight = np.ascontiguousarray(np.asarray(coef, dtype=np.float32).reshape(-1))
    if weight.shape[0] != meta["d_model"]:
        raise WorkbenchError(f"probe weight has {weight.shape[0]} entries but d_model is {meta['d_model']}")
    meta = {**meta, "format": PROBE_FORMAT, "readout": "logit = x @ weight + bias on the raw residual"}
    header = {"workbench_probe": json.dumps(meta, sort_keys=True, default=str)}
    tensors = {"weight": weight, "bias": np.array([intercept], dtype=np.float32)}
    write_bytes_atomic(path, save_safetensors(tensors, metadata=header))
    write_json_atomic(path.with_suffix(".json"), meta)
    return path


def load_probe(path: str | Path) -> SavedProbe:
    """A probe saved by ``save_probe`` (give the .safetensors or the .json path)."""
    path = Path(path).with_suffix(".safetensors")
    if not path.exists():
        raise WorkbenchError(f"no saved probe at {path}; run `workbench probe RUN` first")
    with safe_open(path, framework="numpy") as handle:
        header = handle.metadata() or {}
        weight, bias = handle.get_tensor("weight"), handle.get_tensor("bias")
    if "workbench_probe" not in header:
        raise WorkbenchError(f"{path} is a safetensors file but not a workbench probe (no probe metadata)")
    meta = json.loads(header["workbench_probe"])
    if meta.get("format") != PROBE_FORMAT:
        raise WorkbenchError(f"{path} was saved in probe format {meta.get('format')}; this version reads {PROBE_FORMAT}")
    return SavedProbe(weight=weight, bias=float(bias[0]), meta=meta)
