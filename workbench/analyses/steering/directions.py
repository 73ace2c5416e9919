"""Unit directions to steer along at a stored layer: the probe's weight vector, the difference of class
means, and seeded random controls, plus the residual norm that sets the steering scale.

Every direction is a unit vector [d_model] pointing toward "correct": adding it should raise the
confidence a model says if the model reads the probe's direction when it speaks.
"""

from __future__ import annotations

import numpy as np

from workbench.analyses.probe_layers import probe_weights_path
from workbench.analyses.probe_weights import load_probe
from workbench.errors import WorkbenchError, command_line
from workbench.store import Run

DIRECTIONS: tuple[str, ...] = ("probe", "mean_diff")
ROLE = "confidence_slot"  # steering acts where the confidence is read out


def unit(vector: np.ndarray, what: str) -> np.ndarray:
    """vector / |vector| in float64; a clear error for a zero or non-finite vector."""
    vector = np.asarray(vector, dtype=np.float64).reshape(-1)
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0.0:
        raise WorkbenchError(f"the {what} is zero or not finite; it gives no direction to steer along")
    return vector / norm


def check_shape(vector: np.ndarray, run: Run, what: str) -> None:
    if vector.shape != (run.d_model,):
        raise WorkbenchError(f"the {what} has shape {list(vector.shape)} but this run's model has d_model "
                             f"{run.d_model}: it comes from another model's run; use a run of this model")


def probe_direction(run: Run, layer: int, *, source: Run | None = None, probe: str = "logistic") -> tuple[np.ndarray, dict]:
    """The saved probe's unit weight vector at (layer, confidence_slot) of ``source`` (default: ``run``) and notes."""
    source = source or run
    path = probe_weights_path(source.path, ROLE, layer, probe)
    if not path.exists():
        raise WorkbenchError(f"no saved {probe} probe at layer {layer} ({ROLE}) for {source.path}; run "
                             f"`{command_line('workbench', 'probe', source.path, '--roles', ROLE)}` first, or use "
                             "direction='mean_diff'")
    saved = load_probe(path)
    check_shape(saved.weight, run, f"{probe} probe direction from {source.path}")
    n_readouts = saved.meta.get("n_readouts", saved.meta.get("n_layers"))  # probes saved before the rename
    if n_readouts != len(run.readouts):
        raise WorkbenchError(f"the probe from {source.path} was fitted on a run with {n_readouts} read-outs,"
                             f" this run has {len(run.readouts)}: it comes from another model; use a run of this model")
    same = saved.meta.get("model_checksum") == run.manifest["model"].get("checksum")
    return unit(saved.weight, f"{probe} probe weight"), {
        "source": str(path), "probe_cv_auroc": saved.meta.get("cv_auroc"),
        "note": "" if same else "direction fitted on another model's run (same shape)"}


def mean_diff_direction(run: Run, layer: int, *, source: Run | None = None) -> tuple[np.ndarray, dict]:
    """mean(correct) - mean(incorrect) of the residual at (layer, confidence_slot) of ``source``, as a unit vector."""
    source = source or run
    resid = source.residuals(layer, ROLE)  # [n, d_model]
    check_shape(resid[0], run, f"mean difference from {source.path}")
    correct = source.records["correct"].to_numpy(dtype=bool)
    if correct.all() or not correct.any():
        raise WorkbenchError(f"{source.path} has only {'correct' if correct.all() else 'incorrect'} answers: the "
                             "difference of class means is undefined; collect more items or use direction='probe'")
    diff = resid[correct].mean(0) - resid[~correct].mean(0)
    return unit(diff, "difference of class means"), {"source": f"{source.path} (class means)", "probe_cv_auroc": None,
                                                     "note": ""}


def steering_direction(run: Run, layer: int, direction: str, *, source: Run | None = None,
                       probe: str = "logistic") -> tuple[np.ndarray, dict]:
    """The unit direction of kind ``direction`` at ``layer``, and where it came from."""
    if direction == "probe":
        return probe_direction(run, layer, source=source, probe=probe)
    if direction == "mean_diff":
        return mean_diff_direction(run, layer, source=source)
    raise WorkbenchError(f"unknown steering direction {direction!r}: choose one of {', '.join(DIRECTIONS)}")


def random_directions(d_model: int, n: int, *, seed: int, layer: int) -> np.ndarray:
    """[n, d_model] unit vectors, uniform on the sphere, seeded by (seed, layer)."""
    rng = np.random.default_rng([seed, layer])
    draws = rng.standard_normal((n, d_model))
    return draws / np.linalg.norm(draws, axis=1, keepdims=True)


def residual_norm(run: Run, layer: int) -> float:
    """Mean L2 norm of the residual at (layer, confidence_slot) over the run's examples."""
    return float(np.linalg.norm(run.residuals(layer, ROLE).astype(np.float64), axis=1).mean())
