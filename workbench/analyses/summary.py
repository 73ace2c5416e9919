"""Helpers of the commands that run the analyses: how many folds a run allows, the channel table as text."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.analyses.inputs import check_folds, labels, question_groups
from workbench.errors import WorkbenchError
from workbench.store import Run


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
