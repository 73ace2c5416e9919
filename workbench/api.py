"""The verbs: ``wb.collect``, ``wb.probe``, ``wb.calibrate``, ``wb.bottleneck``, ``wb.patch``, ``wb.finetune``,
the two opt-in stages ``wb.steer`` and ``wb.sample``, and ``wb.report`` (the run's one offline page). The
verbs that run these, ``wb.sweep`` and ``wb.replicate``, stand above them in ``workbench.studies``.

Each takes its stage's config fields (``workbench.configs``) as keyword arguments, with the names and
defaults of the CLI, which calls these verbs; or a whole ``config=``, with fields overriding it. An
analysis verb takes a run directory or an opened ``Run`` and returns the stored ``Result``. The signature
of each verb is generated from its config, so ``help(wb.probe)`` lists every field and its default. A verb
builds its config and calls its stage's runner (``runner(run, config, model)``), which loads the model it needs.
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


def _open(run: RunLike) -> Run:
    return run if isinstance(run, Run) else open_run(run)


def _config(cls: type[StageConfig], config: StageConfig | None, fields: Mapping[str, Any]) -> Any:
    return cls(**{**(dict(config) if config is not None else {}), **fields})


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
    from workbench.analyses.probe_layers import run_probes

    config = _config(ProbeConfig, config, fields)
    return run_probes(_open(run), config)


def calibrate(run: RunLike, config: CalibrateConfig | None = None, *, probes: Result | None = None,
              sampling: Result | None = None, **fields: Any) -> Result:
    """Every channel (and, with ``prior_knowledge``, known vs unknown items); returns the ``channels`` result.
    ``probes``: the probes result whose best probe becomes a channel (default: the run's, when stored);
    ``sampling``: the ``wb.sample`` result whose channels join (default: the run's latest, when stored)."""
    from workbench.analyses.prior_knowledge import run_calibration

    config = _config(CalibrateConfig, config, fields)
    return run_calibration(_open(run), config, probes=probes, sampling=sampling)


def bottleneck(run: RunLike, config: BottleneckConfig | None = None, *, model: Any = None, **fields: Any) -> Result:
    """Softmax expected value vs argmax, and the logit lens (on ``model``, or the run's model when ``device`` is
    given, else the run's read-out head alone)."""
    from workbench.analyses.bottleneck import run_bottleneck

    config = _config(BottleneckConfig, config, fields)
    return run_bottleneck(_open(run), config, model)


def patch(run: RunLike, model: Any = None, config: PatchConfig | None = None, *, source_model: Any = None,
          **fields: Any) -> Result:
    """Patch states between runs block by block (the run's model, and a cross-model source's, is loaded unless given:
    ``model``, ``source_model``); returns the stored patching result, and with ``figures`` writes its figures
    beside it. It says what runs when ``progress``."""
    from workbench.analyses.patching.runner import run_patching

    config = _config(PatchConfig, config, fields)  # (the runner checks the run before loading)
    result = run_patching(_open(run), config, model, source_model=source_model)
    if config.figures:
        from workbench.figures.patching import write_figures

        write_figures(result, result.path / "figures")
    return result


def steer(run: RunLike, config: SteerConfig | None = None, *, model: Any = None, **fields: Any) -> Result:
    """Steer along a direction at the confidence slot, layer by layer, beside random directions of the same norm
    (the run's model is loaded unless ``model`` is given); returns the stored ``steering-<direction>`` result and,
    with ``figures``, writes its dose-response figure beside it. It says what runs when ``progress``."""
    from workbench.analyses.steering import steer as steer_run

    config = _config(SteerConfig, config, fields)  # (the runner checks layers before loading)
    result = steer_run(_open(run), config, model)
    if config.figures:
        from workbench.figures.steering import write_figures

        write_figures(result, result.path / "figures")
    return result


def sample(run: RunLike, config: SampleConfig | None = None, *, model: Any = None, **fields: Any) -> Result:
    """Sample the run's answers ``k`` times per example (self-consistency, semantic entropy) and P(True), stored beside
    the run and resumed (the run's model is loaded unless ``model`` is given); opt-in and costly: about ``k`` x
    collect's answer generation. Returns the ``sampling`` result (table ``samples``, one row per example), whose
    channels ``wb.calibrate`` then reports beside the others."""
    from workbench.sampling import sample_channels

    config = _config(SampleConfig, config, fields)  # (a bad field: refused before the run is read)
    return sample_channels(_open(run), config, model)


def finetune(run: RunLike, out: str | Path, *, config: FinetuneConfig | None = None,
             experiment: FinetuneExperiment | None = None, **fields: Any) -> Result:
    """Train the adapter(s) (one per seed) and, with ``eval`` runs, the whole experiment (baselines, before/after
    comparison, cross-model patching, replication over seeds). Returns the ``finetune`` result; without ``eval``
    a ``training`` result listing each adapter and its loss history."""
    from workbench.finetune.runner import run_finetune

    train = {k: v for k, v in fields.items() if k in FinetuneConfig.model_fields}
    experiment = _config(FinetuneExperiment, experiment, {k: v for k, v in fields.items() if k not in train})
    config = _config(FinetuneConfig, config, {**train, "seed": experiment.seeds[0]})
    return run_finetune(_open(run), config, experiment, out)


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
