"""The demo: collect a run on the default model, then report what each instrument finds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from workbench.collect import CollectConfig, collect
from workbench.store import Run


def collection_summary(run: Run) -> str:
    """Accuracy and mean verbal confidence per family, and the AUROC of each stored confidence channel."""
    from sklearn.metrics import roc_auc_score

    frame = run.records
    by_family = frame.groupby("family").agg(n=("correct", "size"), accuracy=("correct", "mean"),
                                             mean_verbal=("verbal_confidence", "mean"),
                                             unparsed=("verbal_confidence", lambda v: v.isna().mean()))
    lines = [f"{run.n_examples} items, model {run.model_name} ({run.manifest['model'].get('checksum', '')[:19]}), "
             f"accuracy {frame['correct'].mean():.3f}, mean verbal confidence {np.nanmean(frame['verbal_confidence']):.1f}",
             by_family.round(3).to_string()]
    channels = {"verbal": frame["verbal_confidence"], "softmax_expected": frame["softmax_expected"],
                "argmax": frame["argmax"], "answer_prob": frame["answer_prob"]}
    rows = []
    for name, score in channels.items():
        keep = score.notna()
        y = frame.loc[keep, "correct"].astype(int)
        auroc = roc_auc_score(y, score[keep]) if y.nunique() == 2 else float("nan")
        rows.append({"channel": name, "n": int(keep.sum()), "auroc": round(auroc, 3)})
    lines.append("AUROC of each confidence channel (correct vs incorrect):")
    lines.append(pd.DataFrame(rows).to_string(index=False))
    return "\n".join(lines)


def run_demo(config: CollectConfig, out: str | Path) -> str:
    run = collect(config, out)
    return collection_summary(run)
