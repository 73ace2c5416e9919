"""The demo: collect a run on the default model, run every instrument on it, then print its findings (the same
statements its report page opens on, ``figures.findings.run_findings``) and write the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.collect import CollectConfig, collect
from workbench.errors import WorkbenchError
from workbench.store import Run
from workbench.store.paths import check_output_dir

DEMO_ROLES = ("confidence_slot", "answer_last")


def analyse(run: Run, model: Any, *, seed: int = 0, n_pairs: int = 24, logit_lens: bool = True) -> list[str]:
    """Probes (confidence_slot and answer_last, all layers), channels, the bottleneck (with the logit lens when
    ``logit_lens``) and patching (correct runs into incorrect ones at resid_pre of the confidence slot, every
    layer, control and attribution; random pairs when a class is missing), each stored beside the run and
    resumable. Returns why each stage that cannot run on these data was skipped."""
    from workbench.analyses.bottleneck import bottleneck
    from workbench.analyses.channels import channels
    from workbench.analyses.inputs import describe_classes, labels
    from workbench.analyses.patching.runner import PatchConfig, run_patching
    from workbench.analyses.probe_layers import probe_layers
    from workbench.analyses.summary import adapt_folds

    skipped, probes = [], None
    try:
        probes = probe_layers(run, [r for r in DEMO_ROLES if r in run.roles], "all", folds=adapt_folds(run),
                              seeds=(seed,))
    except WorkbenchError as error:
        skipped.append(f"probes: skipped: {error}")
    channels(run, probes=probes, seed=seed)
    try:
        bottleneck(run, seed=seed, logit_lens=logit_lens, loaded=model)
    except WorkbenchError as error:
        skipped.append(f"text bottleneck: skipped: {error}")
    correct = labels(run)
    kind = "correct-to-incorrect" if 0 < correct.sum() < len(correct) else "random"
    if kind == "random":
        skipped.append(f"patching: random pairs stand in for correct-to-incorrect ({describe_classes(correct)})")
    run_patching(run, PatchConfig(pairs=kind, n_pairs=n_pairs, seed=seed, progress=False), model)
    return skipped


def run_demo(config: CollectConfig, out: str | Path) -> str:
    """Collect (or resume) the demo run, analyse it, write its report page; returns its findings to print."""
    from workbench.backends import load_model
    from workbench.figures.findings import run_findings
    from workbench.figures.run_report import write_report

    check_output_dir(out)
    model = load_model(config.model, backend=config.backend, device=config.device, dtype=config.dtype)
    run = collect(config, out, loaded=model)
    skipped = analyse(run, model, seed=config.seed)
    return "\n".join([*(f"- {f.text}" for f in run_findings(run)), *skipped,
                      f"report (the findings, every figure and table, one offline page): {write_report(run)}"])
