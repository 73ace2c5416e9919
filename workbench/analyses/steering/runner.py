"""What ``workbench steer`` runs: steering along a probe direction over a grid of alphas and layers, with
seeded random directions of the same norm as the control, stored beside the run and resumable.

At each chosen stored layer L (hook ``run.readouts[L]``), the vector alpha x s_L x u is added to the residual at
the confidence slot, where u is a unit direction and s_L the mean residual norm at (L, confidence_slot)
(``alpha_unit="residual_norm"``; ``"absolute"`` uses s_L = 1). Per example and condition it stores the exact
expected confidence (0-1), its shift from the unsteered read-out, the argmax, the greedy confidence text and
whether that text is unchanged. The answer precedes the slot, so steering there cannot change it: "unchanged"
is about the confidence the model says. Results go to ``RUN/results/steering-<direction>/<key>/`` (keyed by
config, ``store.results``); finished batches of examples are kept under ``partial/`` so a killed run resumes.
The config is ``workbench.configs.SteerConfig``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from workbench.analyses.inputs import require_complete, run_model, say_progress
from workbench.analyses.patching.metrics import expected
from workbench.analyses.steering.directions import random_directions, residual_norm, steering_direction
from workbench.analyses.steering.mechanics import SlotSteerer
from workbench.analyses.steering.summary import dose_table, layer_table, summary_text
from workbench.backends import Backend
from workbench.configs import SteerConfig
from workbench.errors import WorkbenchError
from workbench.layer_selection import READOUT, select_layers
from workbench.store import Run, config_hash, open_run
from workbench.store.chunks import ChunkStore
from workbench.store.results import Result, result_slot

ANALYSIS = "steering"


def steer_readouts(readouts: tuple[int, ...] | None, n_readouts: int) -> list[int]:
    """Checked read-out indices (``workbench.layer_selection``); None: four evenly spaced after the embedding."""
    if readouts is None:
        return sorted({int(round(x)) for x in np.linspace(1, n_readouts - 1, 4)})
    return list(select_layers(readouts, n_readouts, READOUT, "this run"))


def steering_plan(run: Run, config: SteerConfig):
    """Per chosen layer: (hook, scale, [(direction kind, id, unit vector)], direction table row); checked against
    the run, so bad layers or directions fail before any model loads."""
    source = open_run(config.probe_run) if config.probe_run else None
    out = []
    for layer in steer_readouts(config.readouts, len(run.readouts)):
        vector, info = steering_direction(run, layer, config.direction, source=source, probe=config.probe)
        scale = residual_norm(run, layer) if config.alpha_unit == "residual_norm" else 1.0
        randoms = random_directions(run.d_model, config.n_random, seed=config.seed, layer=layer)  # [n_random, d_model]
        units = [(config.direction, 0, vector), *(("random", i, v) for i, v in enumerate(randoms))]
        row = {"layer": layer, "hook": run.readouts[layer], "scale": scale, **info,
               "cos_random_max": float(np.abs(randoms @ vector).max())}
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


def steer(run: str | Path | Run, config: SteerConfig | None = None, model: Backend | None = None, *,
          progress: Callable[[str], None] | None = None, **overrides: Any) -> Result:
    """Steer (or resume steering) a stored run and return the stored ``steering-<direction>`` result.

    ``overrides`` set config fields (``alphas=(-1, 0, 1)``, ``readouts=(10, 20)``, ``overwrite=True``, ...);
    ``model`` is the run's model already loaded (else it is loaded on ``config.device``); ``progress``
    receives a line per batch (default: printed when ``config.progress``). Tables: ``effects`` (per example and
    condition), ``dose`` (per layer, direction and alpha, means with bootstrap intervals over examples),
    ``layers`` (dose-response slope per layer: probe, random control and their difference) and ``directions``.
    """
    config = SteerConfig(**{**(dict(config) if config is not None else {}), **overrides})
    run = run if isinstance(run, Run) else open_run(run)
    require_complete(run, config.allow_incomplete)
    if config.readouts is not None:  # stored as checked indices, so readouts=(-1,) and the last index are one config
        config = config.replace(readouts=tuple(steer_readouts(config.readouts, len(run.readouts))))
    slot = result_slot(run.path, ANALYSIS, config.content(), run.manifest, overwrite=config.overwrite,
                       name=config.name)
    if slot.existing is not None:  # this config on this run is stored: returned, never replaced unasked
        return slot.existing
    path = slot.path
    digest = config_hash({**config.content(), "run": run.manifest.get("config_hash")})
    plan = steering_plan(run, config)
    backend = model if model is not None else run_model(run, config)
    if backend.d_model != run.d_model:
        raise WorkbenchError(f"the loaded model has d_model {backend.d_model}, the run {run.d_model}: load the run's model")
    records = run.records if config.limit is None else run.records.iloc[:config.limit]
    alphas = sorted({0.0, *map(float, config.alphas)})
    chunks = ChunkStore(path / "partial", digest, what="steering result")
    say = say_progress(config, progress)
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
