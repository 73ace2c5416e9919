"""What ``workbench steer`` runs: steering along a probe direction over a grid of alphas and layers, with
seeded random directions of the same norm as the control, stored beside the run and resumable.

At each chosen stored layer L (hook ``run.readouts[L]``), the vector alpha x s_L x u is added to the residual at
the confidence slot, where u is a unit direction and s_L the mean residual norm at (L, confidence_slot)
(``alpha_unit="residual_norm"``; ``"absolute"`` uses s_L = 1). Per example and condition it stores the exact
expected confidence (0-1), its shift from the unsteered read-out, the argmax, the greedy confidence text and
whether that text is unchanged. The answer precedes the slot, so steering there cannot change it: "unchanged"
is about the confidence the model says. Results go to ``RUN/results/steering-<direction>/<key>/`` (keyed by
config, ``store.results``); finished batches of examples are kept under ``partial/`` so a killed run resumes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from workbench.analyses.inputs import require_complete
from workbench.analyses.patching.metrics import expected
from workbench.analyses.steering.directions import (DIRECTIONS, random_directions, residual_norm,
                                                    steering_direction)
from workbench.analyses.steering.mechanics import SlotSteerer
from workbench.analyses.steering.summary import dose_table, layer_table, summary_text
from workbench.backends import Backend, load_model
from workbench.errors import WorkbenchError
from workbench.store import Run, config_hash, open_run
from workbench.store.chunks import ChunkStore
from workbench.store.results import Result, result_slot

ANALYSIS = "steering"
ALPHA_UNITS = ("residual_norm", "absolute")


@dataclass(frozen=True, kw_only=True)
class SteerConfig:
    """Everything that decides a steering result (hashed), plus how it is executed (``execution_keys``)."""

    direction: str = "probe"  # "probe" (saved probe weights) | "mean_diff" (difference of class means)
    probe: str = "logistic"  # which saved probe gives the direction
    probe_run: str | None = None  # the run whose probe / class means give the direction (default: this run)
    layers: tuple[int, ...] | None = None  # stored layer indices; None: four evenly spaced
    alphas: tuple[float, ...] = (-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0)
    alpha_unit: str = "residual_norm"
    n_random: int = 4
    limit: int | None = None  # steer the first `limit` examples only
    seed: int = 0
    n_boot: int = 1000
    batch_size: int = 8
    rows_per_forward: int = 64  # (example, condition) rows per forward: memory for speed
    execution_keys: tuple[str, ...] = field(default=("batch_size", "rows_per_forward"), repr=False)

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise WorkbenchError(f"unknown steering direction {self.direction!r}: choose one of {', '.join(DIRECTIONS)}")
        if not self.alphas:
            raise WorkbenchError("the alpha grid is empty: give at least one non-zero alpha, e.g. -0.5,0,0.5")
        if not all(np.isfinite(a) for a in self.alphas) or not any(a != 0 for a in self.alphas):
            raise WorkbenchError(f"the alpha grid {list(self.alphas)} needs finite values, at least one of them "
                                 "non-zero (alpha 0 is the unsteered read-out)")
        if self.alpha_unit not in ALPHA_UNITS:
            raise WorkbenchError(f"alpha_unit must be one of {', '.join(ALPHA_UNITS)}, got {self.alpha_unit!r}")
        if self.n_random < 1:
            raise WorkbenchError(f"n_random must be at least 1 (the random-direction control), got {self.n_random}")
        if self.layers is not None and not self.layers:
            raise WorkbenchError("give at least one layer to steer at, or leave layers unset for four evenly spaced")
        for name in ("batch_size", "rows_per_forward", "n_boot", "limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise WorkbenchError(f"{name} must be at least 1, got {value}")

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "execution_keys"}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SteerConfig":
        data = dict(data)
        for key in ("layers", "alphas"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)

    def content(self) -> dict[str, Any]:
        return {k: v for k, v in self.to_dict().items() if k not in self.execution_keys}

    @property
    def name(self) -> str:
        return f"{ANALYSIS}-{self.direction}"


def resolve_steer_layers(layers: tuple[int, ...] | None, n_readouts: int) -> list[int]:
    """Checked stored layer indices; None gives four evenly spaced ones after the embedding."""
    if layers is None:
        return sorted({int(round(x)) for x in np.linspace(1, n_readouts - 1, 4)})
    bad = [layer for layer in layers if not 0 <= layer < n_readouts]
    if bad:
        raise WorkbenchError(f"steering layer(s) {bad} out of range: this run stored layers 0..{n_readouts - 1}")
    return sorted(set(int(layer) for layer in layers))


def steering_plan(run: Run, config: SteerConfig):
    """Per chosen layer: (hook, scale, [(direction kind, id, unit vector)], direction table row).

    Checks the layers and the directions against the run, so bad input fails before any model loads.
    """
    layers = resolve_steer_layers(config.layers, len(run.readouts))
    source = open_run(config.probe_run) if config.probe_run else None
    out = []
    for layer in layers:
        vector, info = steering_direction(run, layer, config.direction, source=source, probe=config.probe)
        scale = residual_norm(run, layer) if config.alpha_unit == "residual_norm" else 1.0
        units = [(config.direction, 0, vector)] + [
            ("random", i, v) for i, v in enumerate(random_directions(run.d_model, config.n_random, seed=config.seed,
                                                                      layer=layer))]
        row = {"layer": layer, "hook": run.readouts[layer], "scale": scale, **info,
               "cos_random_max": float(np.abs(np.stack([u for _, _, u in units[1:]]) @ vector).max())}
        out.append((run.readouts[layer], scale, units, row))
    return out


def _steer_chunk(backend: Backend, run: Run, records: pd.DataFrame, plan, alphas: list[float],
                 rows_per_forward: int) -> pd.DataFrame:
    """Every condition on one batch of examples, one row per (example, layer, direction, alpha)."""
    vocab = run.vocabulary
    steerer = SlotSteerer(backend, vocab, records["input_ids"].tolist(), rows_per_forward=rows_per_forward)
    keys, conditions = [], [(None, None)]  # the unsteered read-out first
    for hook, scale, units, row in plan:
        for kind, index, vector in units:
            for alpha in alphas:
                keys.append((hook, row["layer"], kind, index, alpha, abs(alpha) * scale))
                if alpha != 0:
                    add = torch.tensor(alpha * scale * vector, dtype=backend.dtype).expand(len(records), -1)
                    conditions.append((hook, add))
    readouts = iter(steerer.read_many(conditions))
    base = next(readouts)
    base_expected, base_verbal = expected(base.probs, vocab), np.array([vocab.parse(t) for t in base.texts])
    values = np.asarray(vocab.values)
    frames = []
    for hook, layer, kind, index, alpha, norm in keys:
        out = base if alpha == 0 else next(readouts)
        e = expected(out.probs, vocab)
        verbal = np.array([vocab.parse(t) for t in out.texts])
        frames.append(pd.DataFrame({
            "example_id": records["example_id"].to_numpy(), "layer": layer, "hook": hook, "direction": kind,
            "direction_id": index, "alpha": alpha, "norm": norm, "expected": e, "shift": e - base_expected,
            "argmax": values[out.probs.argmax(-1)], "argmax_unchanged": out.probs.argmax(-1) == base.probs.argmax(-1),
            "verbal_text": out.texts, "verbal": verbal, "verbal_shift": verbal - base_verbal,
            "text_unchanged": [a == b for a, b in zip(out.texts, base.texts)]}))
    return pd.concat(frames, ignore_index=True)


def steer(run: str | Path | Run, config: SteerConfig | None = None, *, backend: Backend | None = None,
          overwrite: bool = False, allow_incomplete: bool = False,
          progress: Callable[[str], None] | None = None, **overrides: Any) -> Result:
    """Steer (or resume steering) a stored run and return the stored ``steering-<direction>`` result.

    ``overrides`` set config fields (``alphas=(-1, 0, 1)``, ``layers=(10, 20)``, ...); ``backend`` is the
    run's model already loaded. Tables: ``effects`` (per example and condition), ``dose`` (per layer,
    direction and alpha, means with bootstrap intervals over examples), ``layers`` (dose-response slope per
    layer: probe, random control and their difference) and ``directions``.
    """
    config = SteerConfig.from_dict({**(config.to_dict() if config else {}), **overrides})
    run = run if isinstance(run, Run) else open_run(run)
    require_complete(run, allow_incomplete)
    slot = result_slot(run.path, ANALYSIS, config.content(), run.manifest, overwrite=overwrite, name=config.name)
    if slot.existing is not None:  # this config on this run is stored: returned, never replaced unasked
        return slot.existing
    path = slot.path
    digest = config_hash({**config.content(), "run": run.manifest.get("config_hash")})
    plan = steering_plan(run, config)
    if backend is None:
        backend = load_model(run.config["model"], backend=run.config.get("backend", "transformer_lens"))
    if backend.d_model != run.d_model:
        raise WorkbenchError(f"the loaded model has d_model {backend.d_model}, the run {run.d_model}: load the run's model")
    records = run.records if config.limit is None else run.records.iloc[:config.limit]
    alphas = sorted({0.0, *map(float, config.alphas)})
    chunks = ChunkStore(path / "partial", digest, what="steering result")
    say = progress or (lambda message: None)
    parts = []
    for i, start in enumerate(range(0, len(records), config.batch_size)):
        unit = f"batch-{i:05d}"
        frame = chunks.get(unit)
        if frame is None:
            batch = records.iloc[start:start + config.batch_size]
            say(f"{unit}: {len(batch)} examples x {len(plan)} layers x {len(alphas) - 1} alphas x "
                f"{1 + config.n_random} directions")
            frame = chunks.put(unit, _steer_chunk(backend, run, batch, plan, alphas, config.rows_per_forward))
        parts.append(frame)
    effects = pd.concat(parts, ignore_index=True)
    dose = dose_table(effects, n_boot=config.n_boot, seed=config.seed)
    per_layer = layer_table(effects, config.direction, n_boot=config.n_boot, seed=config.seed)
    directions = pd.DataFrame([row for _, _, _, row in plan])
    summary = summary_text(per_layer, config.direction, n_examples=len(records))
    result = slot.write({"effects": effects, "dose": dose, "layers": per_layer, "directions": directions},
                        digest=digest, summary=summary)
    chunks.remove()
    return result
