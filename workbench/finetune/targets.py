"""Training targets: a probability of being correct per item, mapped onto the confidence vocabulary.

Three sources of that probability (``TARGETS``):

- ``probe``: the saved linear probe's probability on the base model's stored residual at its (layer, role)
  (``workbench.analyses.probe_weights``), so targets need no forward pass. This is the experiment: teach
  the model to *say* what its residual stream already *knows*.
- ``correctness``: the graded correctness, 0 or 1 (the "oracle" target: what a perfectly discriminating
  confidence would say).
- ``constant``: the training items' accuracy for every item (the control: a fine-tuning run with the same
  loss, steps and data whose target carries no per-item information, so any change it causes is the
  effect of fine-tuning itself, not of the probe).

Mapping onto the vocabulary (``target_distribution``): a discretised Gaussian of ``width`` points (on the
0-100 scale) centred on 100 p, over the vocabulary's values, renormalised. Why a Gaussian and not the
single nearest string: the probe's probability is an estimate, so neighbouring strings ("72", "74") are
nearly as right as "73" and should not be pushed to zero; the smooth target gives every item a gradient
on the whole neighbourhood and keeps the argmax at the nearest string. ``width=0`` gives the one-hot
nearest string. At the ends of the scale the Gaussian is truncated, so the target's expected value is
pulled inwards by at most ``width * 0.8`` points (p = 0 or 1); the argmax stays at the end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench.analyses.probe_weights import SavedProbe, load_probe
from workbench.errors import WorkbenchError, did_you_mean
from workbench.layer_selection import READOUT, select_layers
from workbench.prompts.vocabulary import ConfidenceVocabulary
from workbench.store import Run

TARGETS: tuple[str, ...] = ("probe", "correctness", "constant")


def target_distribution(p, vocabulary: ConfidenceVocabulary, width: float = 5.0) -> np.ndarray:
    """[n, V] target distribution over the vocabulary for probabilities p [n] in [0, 1]: a Gaussian of sd ``width``
    (0-100 scale) around 100 p, or with ``width=0`` all mass on the value nearest 100 p."""
    p = np.atleast_1d(np.asarray(p, dtype=float))
    if p.ndim != 1 or not np.isfinite(p).all() or p.min() < 0 or p.max() > 1:
        raise WorkbenchError("target probabilities must be a 1-d array of finite values in [0, 1]")
    if not np.isfinite(width) or width < 0:
        raise WorkbenchError(f"target width must be a non-negative number of points, got {width}")
    values = np.asarray(vocabulary.values, dtype=float)  # [V]
    distance = values[None, :] - 100.0 * p[:, None]  # [n, V]
    if width == 0:
        nearest = np.argmin(np.abs(distance), axis=1)  # a tie goes to the string listed first
        out = np.zeros_like(distance)
        out[np.arange(len(p)), nearest] = 1.0
        return out
    logits = -0.5 * (distance / width) ** 2
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True)


def parse_probe_spec(spec: str) -> tuple[int, str]:
    """``"LAYER/ROLE"`` (e.g. ``"18/confidence_slot"``) -> (layer, role)."""
    layer, sep, role = str(spec).partition("/")
    if not sep or not role:
        raise WorkbenchError(f"--probe must be LAYER/ROLE such as 18/confidence_slot, or a probe file; got {spec!r}")
    try:
        return int(layer), role
    except ValueError:
        raise WorkbenchError(f"--probe must start with a layer number (LAYER/ROLE), got {spec!r}") from None


def resolve_probe(run: Run, probe: str | Path | SavedProbe, kind: str = "logistic") -> SavedProbe:
    """The saved probe named by ``LAYER/ROLE`` (from the run's ``probes`` result) or a path, checked against ``run``.

    Refused with a clear error: a probe fitted on another model (checksum), with another d_model or number
    of layers, or at a layer or role the run did not store.
    """
    from workbench.analyses.probe_layers import probe_weights_path

    if isinstance(probe, SavedProbe):
        saved = probe
    elif Path(str(probe)).suffix in (".safetensors", ".json") or Path(str(probe)).exists():
        saved = load_probe(probe)
    else:
        layer, role = parse_probe_spec(str(probe))
        (layer,) = select_layers(layer, len(run.readouts), READOUT, f"run {run.path}")
        if role not in run.roles:
            raise WorkbenchError(f"role {role!r} is not stored in {run.path}.{did_you_mean(role, run.roles)} "
                                 f"Stored roles: {', '.join(run.roles)}")
        saved = load_probe(probe_weights_path(run.path, role, layer, kind))
    saved.check_compatible(checksum=run.manifest.get("model", {}).get("checksum"), d_model=run.d_model,
                           n_readouts=len(run.readouts))
    layer, role = int(saved.meta["layer"]), saved.meta["role"]
    if role not in run.roles or not 0 <= layer < len(run.readouts):
        raise WorkbenchError(f"the probe reads layer {layer} role {role!r}, which run {run.path} did not store")
    return saved


def target_probabilities(run: Run, target: str, *, probe: SavedProbe | None = None,
                         constant: float | None = None) -> np.ndarray:
    """[n_examples] probability of being correct that each example's confidence should say."""
    if target not in TARGETS:
        raise WorkbenchError(f"unknown target {target!r}.{did_you_mean(target, TARGETS)} Choose one of "
                             f"{', '.join(TARGETS)}")
    correct = run.records["correct"].to_numpy(dtype=float)
    if target == "probe":
        if probe is None:
            raise WorkbenchError("the probe target needs a probe: pass --probe LAYER/ROLE")
        residuals = run.residuals(int(probe.meta["layer"]), probe.meta["role"])  # [n, d_model]
        if not np.isfinite(residuals).all():
            raise WorkbenchError(f"run {run.path} holds NaN/inf residuals at the probe's layer; the probe cannot read "
                                 "them")
        return probe.probability(residuals)
    if target == "correctness":
        return correct
    value = float(correct.mean()) if constant is None else float(constant)
    if not 0 <= value <= 1:
        raise WorkbenchError(f"the constant target is a probability in [0, 1], got {value}")
    return np.full(len(correct), value)
