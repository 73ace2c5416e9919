"""What ``workbench patch`` runs: a sweep, its controls and attribution, stored beside the run, resumable.

Results go to ``RUN/results/<name>/<key>/`` (``store.results``: one folder per config, ``latest.json`` points
at the latest; the same config again returns the stored result unless ``overwrite``). Work is cut into units
(the sweep and each control, in chunks of pairs; attribution per chunk); each finished unit is written
atomically under ``partial/`` and listed in ``partial/progress.json`` with the config hash, so a killed run
resumes after its last unit. The final tables are written with ``ResultSlot.write`` (manifest last, with the
config and its hash). The runner stores; its caller draws (``wb.patch`` writes ``figures/patching.html``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.analyses.inputs import require_complete, run_model, say_progress
from workbench.analyses.patching import attribution as attr
from workbench.analyses.patching.controls import per_layer, run_control, summarize
from workbench.analyses.patching.gradient import layer_gradient
from workbench.analyses.patching.metrics import MetricSpec
from workbench.analyses.patching.pairs import PairSet, build_pairs
from workbench.analyses.patching.sources import source_activations
from workbench.analyses.patching.sweep import choose_method, make_job, patch_sweep
from workbench.backends import Backend
from workbench.configs import PatchConfig
from workbench.elicit.scoring import VocabularyTrie
from workbench.layer_selection import select_layers
from workbench.store import Run, config_hash, open_run
from workbench.store.chunks import ChunkStore
from workbench.store.results import Result, ResultSlot, result_slot

ANALYSIS = "patching"


def _attribution_chunk(model: Backend, pairs: PairSet, config: PatchConfig, layers: tuple[int, ...],
                       spec: MetricSpec, exact: pd.DataFrame, source_model: Backend | None) -> pd.DataFrame:
    """Attribution estimates of one chunk of pairs beside their exact effects."""
    trie = VocabularyTrie.build(model.tokenizer, pairs.target.vocabulary)
    frames = []
    for role in config.roles:
        values, _ = source_activations(pairs, config.site, layers, role, source_model or model)
        job = make_job(pairs, config.site, layers, role, values, trie)
        rows = exact[exact["role"] == role]
        gap = (rows.groupby("pair_id")["source_expected"].first() - rows.groupby("pair_id")["target_expected"].first())
        estimate = attr.attribute(model, job, spec, pairs.target.vocabulary, gap.loc[pairs.table["pair_id"]].to_numpy(),
                                  tolerance=config.attribution_tolerance)
        frame = pd.DataFrame({"pair_id": np.repeat(pairs.table["pair_id"].to_numpy(), len(layers)),
                              "layer": np.tile(layers, len(pairs)), "role": role, "site": config.site,
                              "estimate": estimate.reshape(-1)})
        frames.append(frame.merge(rows[["pair_id", "layer", "effect"]].rename(columns={"effect": "exact"}),
                                  on=["pair_id", "layer"]))
    return pd.concat(frames, ignore_index=True)


def run_patching(run: str | Path | Run, config: PatchConfig | None = None, model: Backend | None = None, *,
                 source_model: Backend | None = None, progress: Callable[[str], None] | None = None,
                 **overrides: Any) -> Result:
    """Run (or resume) a patching analysis on a stored run and return the stored result; the run's model (and, for
    cross-model pairs, the source run's) is loaded unless given, after every input check. ``overrides``: config
    fields; ``progress`` gets a line per unit (default: printed when ``config.progress``)."""
    config = PatchConfig.from_dict({**(config.to_dict() if config else {}), **overrides})
    run = run if isinstance(run, Run) else open_run(run)
    require_complete(run, config.allow_incomplete)
    blocks = select_layers(config.blocks, run.n_blocks)  # checked here once, before any model loads
    slot = result_slot(run.path, ANALYSIS, config.content(), run.manifest, overwrite=config.overwrite,
                       name=config.name)
    if slot.existing is not None:
        return slot.existing
    path = slot.path
    digest = config_hash({**config.content(), "run": run.manifest.get("config_hash")})
    say = say_progress(config, progress)
    source_run = open_run(config.source_run) if config.source_run else None
    pairs = build_pairs(run, config.pairs, n_pairs=config.n_pairs, seed=config.seed, source_run=source_run)
    spec = MetricSpec.resolve(config.metric, run.vocabulary, config.levels)
    for role in config.roles:
        pairs.positions(role)  # missing roles fail before any model work
    backend = model if model is not None else run_model(run, config)
    source_backend = source_model if source_model is not None or source_run is None else run_model(source_run, config)
    _, fallback = choose_method(backend, config.method)  # a model without an architecture row: one error
    notes = []
    if config.attribution and config.metric not in attr.LINEAR_METRICS:
        notes.append(f"attribution skipped: {config.metric!r} has no linear estimate (KL is flat at the target)")
    attribute = config.attribution and not notes
    partial = ChunkStore(path / "partial", digest, what="patching result")
    chunks = [pairs.subset(slice(lo, lo + config.chunk_pairs)) for lo in range(0, len(pairs), config.chunk_pairs)]
    kwargs = dict(site=config.site, blocks=blocks, metric=spec, method=config.method)
    tables: dict[str, list[pd.DataFrame]] = {"sweep": [], **{c: [] for c in config.controls}, "attribution": []}
    for i, chunk in enumerate(chunks):
        unit = f"sweep-{i:05d}"
        say(f"{unit}: {len(chunk)} pairs x {len(blocks)} blocks x {len(config.roles)} roles")
        sweep = partial.get(unit)
        if sweep is None:
            sweep = partial.put(unit, patch_sweep(backend, chunk, roles=config.roles, source_model=source_backend,
                                                  **kwargs))
        tables["sweep"].append(sweep)
        for name in config.controls:
            unit = f"{name}-{i:05d}"
            frame = partial.get(unit)
            if frame is None:
                say(f"{unit}: control")
                frame = partial.put(unit, run_control(name, backend, chunk, config.site, blocks, config.roles, spec,
                                                      seed=config.seed + i, method=config.method,
                                                      source_model=source_backend))
            tables[name].append(frame)
        if attribute:
            unit = f"attribution-{i:05d}"
            frame = partial.get(unit)
            if frame is None:
                say(f"{unit}: attribution")
                frame = partial.put(unit, _attribution_chunk(backend, chunk, config, blocks, spec, sweep, source_backend))
            tables["attribution"].append(frame)
    return _finish(run, pairs, config, digest, tables, slot, notes=[fallback, *notes])


def _finish(run: Run, pairs: PairSet, config: PatchConfig, digest: str, parts: dict[str, list[pd.DataFrame]],
            slot: ResultSlot, *, notes: list[str]) -> Result:
    effects = pd.concat(parts["sweep"], ignore_index=True)
    controls = {c: pd.concat(parts[c], ignore_index=True) for c in config.controls}
    tables = {"effects": effects, "pairs": pairs.describe(), "controls_summary": summarize(effects, controls),
              "controls_per_layer": per_layer(effects, controls)}
    if controls:
        tables["controls"] = pd.concat([t for t in controls.values() if not t.empty] or [pd.DataFrame()],
                                       ignore_index=True)
    summary: dict[str, Any] = {"pairs_note": pairs.note, "notes": "; ".join(n for n in notes if n)}
    if effects["layer"].nunique() >= 3:  # one layer gradient per role
        gradients = {role: layer_gradient(rows, n_boot=config.n_boot, seed=config.seed)
                     for role, rows in effects.groupby("role", sort=False)}
        tables["gradient"] = pd.concat([g.per_layer().assign(role=role) for role, g in gradients.items()],
                                       ignore_index=True)
        tables["gradient_summary"] = pd.DataFrame([{"role": role, **g.summary()} for role, g in gradients.items()])
        summary["gradient"] = "\n".join(f"{role}: {g.describe()}" for role, g in gradients.items())
    if parts["attribution"]:
        attribution = pd.concat(parts["attribution"], ignore_index=True)
        tables["attribution"] = attribution
        tables["attribution_summary"] = pd.DataFrame([attr.agreement(attribution)])
    for name, frame in tables.items():
        frame.attrs = {}
    result = slot.write(tables, digest=digest, summary=summary)
    ChunkStore(slot.path / "partial", digest).remove()
    return result
