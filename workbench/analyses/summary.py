"""The demo's report: run probes, channels and the bottleneck on a run, store their results (their figures go
to the run's one report page) and return the lines to print. Every stage that cannot run on these data says
why instead of stopping.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from workbench.analyses.bottleneck import bottleneck
from workbench.analyses.channels import channels
from workbench.analyses.inputs import check_folds, describe_classes, labels, question_groups
from workbench.analyses.probe_layers import probe_layers
from workbench.errors import WorkbenchError
from workbench.store import Run

DEMO_ROLES = ("confidence_slot", "answer_last")


def adapt_folds(run: Run, wanted: int = 5) -> int:
    """The most folds (at most ``wanted``, at least 2) the run's class counts allow; a clear error if none."""
    correct, groups = labels(run), question_groups(run)
    for folds in range(wanted, 1, -1):
        try:
            check_folds(correct, groups, folds)
            return folds
        except WorkbenchError:
            continue
    check_folds(correct, groups, 2)  # raises the error that explains why not even 2 folds work
    return 2


def format_channels(table: pd.DataFrame) -> str:
    """The channel table as aligned text: AUROC, PRR and smooth ECE with intervals, AURC, ECE (equal-width and
    equal-mass), Brier, overconfidence, note. A metric that could not be computed reads "undefined" (the note
    says why), never a number."""
    def number(row, metric: str, interval: bool = False) -> str:
        value = row.get(metric, np.nan)
        if not row["n"]:
            return "-"  # the channel was skipped; the note says why
        if not np.isfinite(value):
            return "undefined"
        text = f"{value:.3f}"
        if not interval:
            return text
        low, high = row.get(metric + "_low", np.nan), row.get(metric + "_high", np.nan)
        return f"{text} [{low:.3f}, {high:.3f}]" if np.isfinite(low) and np.isfinite(high) else f"{text} [no interval]"

    rows = [{"channel": row["channel"], "n": int(row["n"]), "AUROC [95% CI]": number(row, "auroc", True),
             "PRR [95% CI]": number(row, "prr", True), "AURC": number(row, "aurc"),
             "smECE [95% CI]": number(row, "smece", True), "ECE": number(row, "ece"),
             "ECE-mass": number(row, "ece_mass"), "Brier": number(row, "brier"),
             "over": f"{row['overconfidence']:+.3f}" if row["n"] else "-",
             "note": row.get("note", "") if isinstance(row.get("note", ""), str) else ""}
            for row in table.to_dict("records")]
    with pd.option_context("display.width", 250, "display.max_colwidth", 120):
        return pd.DataFrame(rows).to_string(index=False)


def demo_report(run: Run, *, seed: int = 0, loaded: Any = None, logit_lens: bool = True) -> str:
    """Probes (confidence_slot and answer_last, all layers), channels and the bottleneck (with the logit lens
    when ``logit_lens``; ``loaded`` is the run's model if already loaded); results are written beside the
    run (the demo then writes its report page). Returns the summary: probe AUROC peak per role, the channel
    table, the bottleneck verdict."""
    correct = labels(run)
    lines = [f"analyses of {run.path} ({run.n_examples} examples: {describe_classes(correct)})"]
    probes = None
    try:
        folds = adapt_folds(run)
        probes = probe_layers(run, [r for r in DEMO_ROLES if r in run.roles], "all", folds=folds, seeds=(seed,))
        for best in probes.manifest["best"]:
            if best["probe"] == "logistic":
                lines.append(f"probe AUROC peak, {best['role']}: layer {best['layer']} ({best['hook']}) "
                             f"{best['auroc']:.3f} [{best['low']:.3f}, {best['high']:.3f}] ({folds}-fold by question; "
                             f"the best of {len(run.readouts)} read-outs, so read it as optimistic)")
    except WorkbenchError as error:
        lines.append(f"probes: skipped: {error}")
    table = channels(run, probes=probes, seed=seed)["channels"]
    lines += ["confidence channels:", format_channels(table)]
    try:
        result = bottleneck(run, seed=seed, logit_lens=logit_lens, loaded=loaded)
        s = result["summary"].iloc[0]
        lines.append(f"text bottleneck: {s['verdict']}: AUROC softmax {s['auroc_softmax']:.3f} - argmax "
                     f"{s['auroc_argmax']:.3f} = {s['difference']:+.3f} [{s['difference_low']:+.3f}, "
                     f"{s['difference_high']:+.3f}]; argmax says {s['argmax_modal_value']:g} for "
                     f"{s['argmax_modal_share']:.0%} of examples")
        if "lens_peak_layer" in s and np.isfinite(s["lens_peak_auroc"]):
            lines.append(f"logit lens: AUROC peaks at layer {int(s['lens_peak_layer'])} ({s['lens_peak_auroc']:.3f}), "
                         f"last layer {s['lens_final_auroc']:.3f} (lost {s['lens_lost']:+.3f})")
    except WorkbenchError as error:
        lines.append(f"text bottleneck: skipped: {error}")
    return "\n".join(lines)
