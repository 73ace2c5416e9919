"""The patching part of ``workbench demo``: rho with its interval and the controls, stored beside the run.

It is ``workbench patch RUN --pairs correct-to-incorrect --n-pairs 24`` (resid_pre at the confidence slot, all
layers, every control, attribution), so the demo's numbers are a stored, resumable result like any other.
"""

from __future__ import annotations

from collections.abc import Callable

from workbench.analyses.patching.runner import PatchConfig, run_patching
from workbench.backends.base import Backend
from workbench.store import Run


def demo_report(run: Run, backend: Backend, *, n_pairs: int = 24, seed: int = 0,
                draw: Callable[..., object] | None = None) -> str:
    """Patch correct runs into incorrect ones (random pairs when a class is missing); report rho and controls.
    ``draw(result)``, when given, draws the stored result (the demo writes its figures)."""
    correct = run.records["correct"]
    kind = "correct-to-incorrect" if 0 < correct.sum() < len(correct) else "random"
    result = run_patching(run, PatchConfig(pairs=kind, n_pairs=n_pairs, seed=seed), backend=backend)
    if draw is not None:
        draw(result)
    summary = result.manifest["summary"]
    lines = ["patching (resid_pre at the confidence slot, all layers):", f"  {summary['pairs_note']}"]
    if kind == "random":
        lines.append(f"  (the run has {int(correct.sum())} correct of {len(correct)}, so random pairs stand in)")
    if summary.get("notes"):
        lines.append(f"  note: {summary['notes']}")
    lines.append(f"  {summary['gradient'].split(': ', 1)[1]}")
    controls = result["controls_summary"][["control", "mean_effect", "mean_abs_effect", "share_answer_unchanged"]]
    lines += ["  controls (mean shift in expected confidence):",
              *("    " + line for line in controls.to_string(index=False, float_format=lambda x: f"{x:+.4f}")
                .splitlines())]
    if "attribution_summary" in result.tables:
        a = result["attribution_summary"].iloc[0]
        lines.append(f"  attribution patching vs exact: Spearman of the mean layer profile {a['spearman_profile']:+.2f}")
    lines.append(f"  results and figures: {result.path}")
    return "\n".join(lines)
