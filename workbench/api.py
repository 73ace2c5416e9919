"""The verbs: ``wb.collect``, ``wb.probe``, ``wb.calibrate``, ``wb.bottleneck``, ``wb.patch``, ``wb.finetune``,
the two opt-in stages ``wb.steer`` and ``wb.sample``, and ``wb.report`` (the run's one offline page). The
verbs that run these, ``wb.sweep`` and ``wb.replicate``, stand above them in ``workbench.studies``.

Each takes its stage's config fields (``workbench.configs``) as keyword arguments, with the names and
defaults of the CLI, which calls these verbs; or a whole ``config=``, with fields overriding it. An
analysis verb takes a run directory or an opened ``Run`` and returns the stored ``Result``. The signature
of each verb is generated from its config, so ``help(wb.probe)`` lists every field and its default.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from workbench.configs import (BottleneckConfig, CalibrateConfig, CollectConfig, FinetuneConfig, FinetuneExperiment,
                               PatchConfig, PlanConfig, ProbeConfig, SampleConfig, StageConfig, SteerConfig)
from workbench.planning import Plan
from workbench.store import Run, open_run
from workbench.store.results import Result

RunLike = str | Path | Run
TRUST_KEYS = ("allow_incomplete", "overwrite")


def _open(run: RunLike) -> Run:
    return run if isinstance(run, Run) else open_run(run)


def _config(cls: type[StageConfig], config: StageConfig | None, fields: Mapping[str, Any]) -> Any:
    return cls(**{**(dict(config) if config is not None else {}), **fields})


def _trust(fn: Callable, config: StageConfig) -> dict[str, Any]:
    """``allow_incomplete``/``overwrite`` for the analysis functions that take them."""
    accepted = inspect.signature(fn).parameters
    return {key: getattr(config, key) for key in TRUST_KEYS if key in accepted and hasattr(config, key)}


def _signature(fn: Callable, *configs: type[StageConfig], skip: tuple[str, ...] = ()) -> Callable:
    """Give ``fn`` (``def verb(..., **fields)``) a signature listing every config field with its default."""
    params = [p for p in inspect.signature(fn).parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    taken = {p.name for p in params}
    for cls in configs:
        for name, info in cls.model_fields.items():
            if name in taken or name in skip:
                continue
            taken.add(name)
            params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info.default,
                                            annotation=info.annotation))
    fn.__signature__ = inspect.Signature(params, return_annotation=inspect.signature(fn).return_annotation)
    return fn


def collect(out: str | Path = "runs/default", config: CollectConfig | None = None, *, loaded: Any = None,
            **fields: Any) -> Run:
    """Collect (or resume) a run into ``out`` and return it opened; ``loaded``: an already loaded model
    matching ``model`` and ``backend``."""
    from workbench.collect import collect as collect_run

    config = _config(CollectConfig, config, fields)
    return collect_run(config, out, loaded=loaded, progress=config.progress)


def probe(run: RunLike, config: ProbeConfig | None = None, **fields: Any) -> Result:
    """Probe every (role, layer); with ``seeds >= 2`` also the replication result. Returns the ``probes`` result."""
    from workbench.analyses.probe_layers import probe_layers
    from workbench.analyses.replication import replication
    from workbench.analyses.summary import adapt_folds

    config, run = _config(ProbeConfig, config, fields), _open(run)
    folds = adapt_folds(run, 5) if config.folds == "auto" else config.folds
    result = probe_layers(run, config.roles, config.readouts, folds=folds,
                          seeds=range(config.seed, config.seed + config.seeds), probes=config.probes,
                          n_boot=config.n_boot, save_weights=config.save_weights, **_trust(probe_layers, config))
    if config.seeds >= 2:
        replication(run, result, **_trust(replication, config))
    return result


def calibrate(run: RunLike, config: CalibrateConfig | None = None, *, probes: Result | None = None,
              sampling: Result | None = None, **fields: Any) -> Result:
    """Every channel (and, with ``prior_knowledge``, known vs unknown items); returns the ``channels`` result.
    ``probes``: the probes result whose best probe becomes a channel (default: the run's, when stored);
    ``sampling``: the ``wb.sample`` result whose channels join (default: the run's latest, when stored)."""
    from workbench.analyses.channels import channels, stored_result
    from workbench.analyses.prior_knowledge import prior_knowledge

    config, run = _config(CalibrateConfig, config, fields), _open(run)
    probes = probes if probes is not None else stored_result(run, "probes")
    options = dict(n_bins=config.n_bins, strategy=config.strategy, n_boot=config.n_boot, seed=config.seed,
                   sampling=sampling)
    result = channels(run, probes=probes, thresholds=config.validity, **options, **_trust(channels, config))
    if config.prior_knowledge:
        prior_knowledge(run, probes=probes, threshold=config.known_threshold, **options,
                        **_trust(prior_knowledge, config))
    return result


def bottleneck(run: RunLike, config: BottleneckConfig | None = None, *, model: Any = None, **fields: Any) -> Result:
    """Softmax expected value vs argmax, and the logit lens (loading the run's model unless ``model`` is given)."""
    from workbench.analyses.bottleneck import bottleneck as bottleneck_run

    config, run = _config(BottleneckConfig, config, fields), _open(run)
    if config.logit_lens and model is None and config.device is not None:
        from workbench.backends import load_model

        model = load_model(run.config["model"], backend=run.config.get("backend", "transformer_lens"),
                           device=config.device)
    return bottleneck_run(run, n_boot=config.n_boot, seed=config.seed, logit_lens=config.logit_lens, loaded=model,
                          lens_layers=config.lens_readouts, **_trust(bottleneck_run, config))


def patch(run: RunLike, model: Any = None, config: PatchConfig | None = None, *, source_model: Any = None,
          say: Callable[[str], None] | None = None, **fields: Any) -> Result:
    """Patch states between runs block by block (the run's model, and a cross-model source's, is loaded unless given:
    ``model``, ``source_model``); returns the stored patching result. ``say`` gets a line per unit when ``progress``."""
    from workbench.analyses.patching.runner import run_patching

    config, run = _config(PatchConfig, config, fields), _open(run)  # (the runner checks the run before loading)
    say = say or (lambda message: print(f"  {message}", flush=True))
    result = run_patching(run, config, backend=model, source_backend=source_model,
                          progress=say if config.progress else None)
    if config.figures:
        from workbench.figures.patching import write_figures

        write_figures(result, result.path / "figures")
    return result


def steer(run: RunLike, config: SteerConfig | None = None, *, model: Any = None,
          say: Callable[[str], None] | None = None, **fields: Any) -> Result:
    """Steer along a direction at the confidence slot, layer by layer, beside random directions of the same norm
    (the run's model is loaded unless ``model`` is given); returns the stored ``steering-<direction>`` result and,
    with ``figures``, writes its dose-response figure beside it. ``say`` receives a line per batch when
    ``progress`` is on."""
    from workbench.analyses.steering import steer as steer_run

    config, run = _config(SteerConfig, config, fields), _open(run)  # (the runner checks layers before loading)
    say = say or (lambda message: print(f"  {message}", flush=True))
    result = steer_run(run, config, backend=model, progress=say if config.progress else None)
    if config.figures:
        from workbench.figures.steering import write_figures

        write_figures(result, result.path / "figures")
    return result


def sample(run: RunLike, config: SampleConfig | None = None, *, model: Any = None, **fields: Any) -> Result:
    """Sample the run's answers ``k`` times per example (self-consistency, semantic entropy) and P(True), stored
    beside the run and resumed (the run's model is loaded unless ``model`` is given). Opt-in and costly: about
    ``k`` x collect's answer generation. Returns the ``sampling`` result, keyed by its config like every result
    (its table ``samples``: one row per example); ``wb.calibrate`` then reports the three channels beside the
    others and names the sampling config they came from."""
    from workbench.sampling import sample_channels

    config = _config(SampleConfig, config, fields)
    return sample_channels(_open(run), config, loaded=model)


def finetune(run: RunLike, out: str | Path, *, config: FinetuneConfig | None = None,
             experiment: FinetuneExperiment | None = None, **fields: Any) -> Result:
    """Train the adapter(s) (one per seed) and, with ``eval`` runs, the whole experiment (baselines, before/after
    comparison, cross-model patching, replication over seeds). Returns the ``finetune`` result; without ``eval``
    a ``training`` result listing each adapter and its loss history."""
    import pandas as pd

    from workbench.analyses.inputs import require_complete
    from workbench.finetune.runner import finetune_experiment
    from workbench.finetune.train import train
    from workbench.store.results import store_result

    train_fields = {k: v for k, v in fields.items() if k in FinetuneConfig.model_fields}
    plan = _config(FinetuneExperiment, experiment, {k: v for k, v in fields.items() if k not in train_fields})
    config = _config(FinetuneConfig, config, {**train_fields, "seed": plan.seeds[0]})
    train_run, out = _open(run), Path(out)
    if plan.eval:
        eval_runs = {split: open_run(path) for split, path in plan.eval.items()}
        return finetune_experiment(train_run, config, out, eval_runs=eval_runs, baselines=plan.baselines,
                                   seeds=plan.seeds, tolerance=plan.tolerance, patch=plan.patch,
                                   patch_pairs=plan.patch_pairs, n_boot=plan.n_boot, progress=config.progress,
                                   **_trust(finetune_experiment, plan))
    require_complete(train_run, plan.allow_incomplete)  # before training
    rows, histories = [], []
    for seed in plan.seeds:
        variant = config.replace(seed=seed)
        done = train(train_run, variant, out / f"{variant.name}-seed{seed}", progress=config.progress)
        history = pd.DataFrame(done.history)
        rows.append({"variant": variant.name, "seed": seed, "path": str(done.path), "step": done.manifest["step"],
                     "complete": done.complete, "first_loss": float(history["loss"].iloc[0]),
                     "last_loss": float(history["loss"].iloc[-1])})
        histories.append(history.assign(variant=variant.name, seed=seed))
    tables = {"adapters": pd.DataFrame(rows), "history": pd.concat(histories, ignore_index=True)}
    return store_result(out, "training", tables, {"finetune": config.content(), "seeds": list(plan.seeds)},
                        train_run.manifest, overwrite=plan.overwrite)


def report(run: RunLike, path: str | Path | None = None, *, allow_incomplete: bool = False) -> Path:
    """Write the run's one offline report page (its findings in words, then every figure and table; default
    ``RUN/report.html``) and return its path; see ``workbench.figures.run_report``."""
    from workbench.figures.run_report import write_report

    return write_report(_open(run), path, allow_incomplete=allow_incomplete)


def plan(config: PlanConfig | None = None, **fields: Any) -> Plan:
    """The sizes and costs of a run before it runs, from the model's config.json alone (no weights are read):
    the residual store's bytes on disk, and per stage (collect, probe, patch) FLOPs, bytes moved, peak accelerator
    memory and a roofline time on ``device``. Returns a frozen ``Plan`` (``.text()`` is what ``workbench plan``
    prints, ``.to_dict()`` its JSON line)."""
    from workbench.planning import make_plan

    return make_plan(_config(PlanConfig, config, fields))


_signature(collect, CollectConfig)
_signature(probe, ProbeConfig)
_signature(calibrate, CalibrateConfig)
_signature(bottleneck, BottleneckConfig)
_signature(patch, PatchConfig)
_signature(steer, SteerConfig)
_signature(sample, SampleConfig)
_signature(finetune, FinetuneConfig, FinetuneExperiment, skip=("seed",))
_signature(plan, PlanConfig)
