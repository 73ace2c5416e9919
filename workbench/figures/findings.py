"""A run's findings in words, from its stored results alone: what ``workbench demo`` prints and what the run's
report page opens on (one function for both, so the two never say different things).

``run_findings(run)`` returns one ``Finding`` per statement: the run, probe against verbal confidence, every
confidence channel, the text bottleneck (and logit lens) and each patching result. An analysis with no stored
result says nothing; nothing is re-run. Numbers are 95% bootstrap intervals unless the result says otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.analyses.channels import CHANNELS
from workbench.errors import WorkbenchError
from workbench.store import Run
from workbench.store.results import LATEST, Result, read_result


@dataclass(frozen=True)
class Finding:
    """One statement: ``analysis`` is the result folder it reads (``run`` for the run itself)."""

    analysis: str
    text: str


def latest_results(run: Run) -> tuple[dict[str, Result], dict[str, str]]:
    """The latest result of every analysis stored beside the run, by analysis folder name, and why each
    unreadable one (another format version, a damaged file) could not be read."""
    root = Path(run.path) / "results"
    found, unreadable = {}, {}
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if (folder / LATEST).exists() or (folder / "manifest.json").exists():
            try:
                found[folder.name] = read_result(folder)
            except (WorkbenchError, OSError, ValueError) as error:
                unreadable[folder.name] = str(error)
    return found, unreadable


def _ci(value: float, low: float, high: float, sign: str = "") -> str:
    if not math.isfinite(value):
        return "undefined"
    interval = f" [{low:{sign}.3f}, {high:{sign}.3f}]" if math.isfinite(low) and math.isfinite(high) else ""
    return f"{value:{sign}.3f}{interval}"


def _run(run: Run) -> str:
    frame = run.records
    families = frame.groupby("family")["correct"].agg(["mean", "size"])
    by_family = ", ".join(f"{f} {row['mean']:.2f} (n={int(row['size'])})" for f, row in families.iterrows())
    verbal = frame["verbal_confidence"]
    said = f"mean verbal confidence {verbal.mean():.1f} ({verbal.isna().mean():.0%} unparsed)" if verbal.notna().any() \
        else "no verbal confidence parsed"
    return (f"{run.n_examples} items on {run.model_name}: accuracy {frame['correct'].mean():.3f} "
            f"({int(frame['correct'].sum())} correct; {by_family}); {said}.")


def _probes(result: Result, channels: Result | None) -> str:
    """Probe against verbal: the probe's peak per role (the logistic probe's, when it ran), then the verbal
    channel's AUROC."""
    readouts = result["layers"].query("status == 'ok'").groupby("role")["layer"].nunique()
    best = result.manifest.get("best", [])
    peaks = ", ".join(f"at {b['role']} layer {b['layer']} ({b['hook']}, {b['probe']}, best of "
                      f"{readouts.get(b['role'], 0)} read-outs) {_ci(b['auroc'], b['low'], b['high'])}"
                      for b in [b for b in best if b["probe"] == "logistic"] or best)
    text = (f"Probe vs verbal: the probe's AUROC peaks {peaks} ({result.config.get('folds')}-fold by question; a peak "
            "is the best of several layers, so read it as optimistic)")
    rows = channels["channels"].set_index("channel") if channels is not None else None
    if rows is not None and "verbal" in rows.index:
        v = rows.loc["verbal"]
        text += f"; the verbal confidence's AUROC is {_ci(v['auroc'], v['auroc_low'], v['auroc_high'])}"
    return text + "."


def _channels(result: Result) -> str:
    table = result["channels"]
    said = []
    for row in table[table["channel"].isin(CHANNELS)].to_dict("records"):
        if not row["n"]:
            said.append(f"{row['channel']} not computed ({row.get('note', '')})")
            continue
        text = f"{row['channel']} {_ci(row['auroc'], row.get('auroc_low', np.nan), row.get('auroc_high', np.nan))}"
        smece = row.get("smece", np.nan)
        said.append(text + (f" / {smece:.3f}" if math.isfinite(smece) else ""))
    return f"Confidence channels, AUROC [95% CI] / smooth ECE: {'; '.join(said)}."


def _bottleneck(result: Result) -> list[str]:
    s = result["summary"].iloc[0]
    lines = [f"Text bottleneck ({s['verdict']}): AUROC softmax {s['auroc_softmax']:.3f} - argmax "
             f"{s['auroc_argmax']:.3f} = {_ci(s['difference'], s['difference_low'], s['difference_high'], '+')}; "
             f"the argmax says {s['argmax_modal_value']:g} for {s['argmax_modal_share']:.0%} of examples."]
    if "lens_peak_layer" in s and math.isfinite(s["lens_peak_auroc"]):
        lines.append(f"Logit lens: the confidence distribution's AUROC peaks at layer {int(s['lens_peak_layer'])} "
                     f"({s['lens_peak_auroc']:.3f}) and ends at {s['lens_final_auroc']:.3f} (lost "
                     f"{s['lens_lost']:+.3f}).")
    return lines


def _patching(result: Result) -> str:
    p = result.summary
    text = (f"Patching ({p.pairs}, {p.site} at {p.role}, {p.n_pairs} pairs x {p.n_layers_patched} layers): "
            f"rho(layer, {p.metric}) = {_ci(p.rho, p.rho_low, p.rho_high, '+')}")
    if math.isfinite(p.rho8):
        text += f" (8 layers {p.rho8:+.3f}; Mann-Whitney late vs early p = {p.mannwhitney_p:.2g})"
    controls = ", ".join(f"{name} {value:+.3g}" for name, value in p.controls.items())
    text += f"; mean effect {p.mean_effect:+.3g}" + (f" (controls: {controls})" if controls else "")
    text += f"; answers unchanged in {p.share_answer_unchanged:.0%} of patched runs"
    if math.isfinite(p.attribution_spearman):
        text += f"; attribution vs exact patching: Spearman of the layer profile {p.attribution_spearman:+.2f}"
    notes = result.manifest.get("summary", {}).get("notes")
    return text + (f" (note: {notes})" if notes else "") + "."


def run_findings(run: Run, results: dict[str, Result] | None = None) -> list[Finding]:
    """The run's findings in words, read from ``results`` (default: the latest stored result of each analysis)."""
    results = latest_results(run)[0] if results is None else results
    found = [Finding("run", _run(run))]
    if "probes" in results and results["probes"].manifest.get("best"):  # none when no layer could be fitted
        found.append(Finding("probes", _probes(results["probes"], results.get("channels"))))
    if "channels" in results:
        found.append(Finding("channels", _channels(results["channels"])))
    if "bottleneck" in results:
        found += [Finding("bottleneck", t) for t in _bottleneck(results["bottleneck"])]
    found += [Finding(name, _patching(r)) for name, r in results.items() if r.analysis == "patching"]
    return found
