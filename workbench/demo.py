"""The demo: collect a run on the default model, then report what each instrument finds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench.collect import CollectConfig, collect
from workbench.store import Run
from workbench.store.paths import check_output_dir


def collection_summary(run: Run) -> str:
    """Accuracy, mean verbal confidence and the share of unparsed confidences, per family."""
    frame = run.records
    by_family = frame.groupby("family").agg(n=("correct", "size"), accuracy=("correct", "mean"),
                                             mean_verbal=("verbal_confidence", "mean"),
                                             unparsed=("verbal_confidence", lambda v: v.isna().mean()))
    return "\n".join([
        f"{run.n_examples} items, model {run.model_name} ({run.manifest['model'].get('checksum', '')[:19]}), "
        f"accuracy {frame['correct'].mean():.3f}, mean verbal confidence {np.nanmean(frame['verbal_confidence']):.1f}",
        by_family.round(3).to_string()])


def run_demo(config: CollectConfig, out: str | Path) -> str:
    """Collect (or resume) the demo run, then probes, channels, the text bottleneck and patching on it."""
    from workbench.analyses.patching.summary import demo_report as patching_report
    from workbench.analyses.summary import demo_report as analyses_report
    from workbench.backends import load_model
    from workbench.figures.patching import write_figures
    from workbench.figures.run_report import write_report

    check_output_dir(out)
    model = load_model(config.model, backend=config.backend, device=config.device, dtype=config.dtype)
    run = collect(config, out, loaded=model)
    sections = [collection_summary(run), analyses_report(run, seed=config.seed, loaded=model),
                patching_report(run, model, seed=config.seed, draw=lambda r: write_figures(r, r.path / "figures")),
                f"report (every figure and table, one offline page): {write_report(run)}"]
    return "\n\n".join(sections)
