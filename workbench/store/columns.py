"""What every stored column means: the records of a run and each table of each analysis result.

One table of prose per analysis, read by ``Result.describe()``, by docs/api.md (generated from it) and by a
test that fails when an analysis writes a column nobody documented. Keys are column names; a key ending in
``*`` documents every column that starts with it (``source_*``). Scales: confidences on the run's
vocabulary scale are 0-100; probabilities and AUROCs are 0-1; ``low``/``high`` bound a 95% bootstrap
interval unless the config says another level.
"""

from __future__ import annotations

from collections.abc import Mapping

RECORDS: dict[str, str] = {
    "example_id": "index of the example in the run (0..n-1), the key every result uses",
    "item_id": "the QA item's id in its dataset", "family": "the item's dataset family (capitals, arithmetic, ...)",
    "question": "the question text", "gold": "the gold answer", "aliases": "other accepted answers",
    "answer": "the model's greedy answer", "correct": "whether the answer was graded correct",
    "answer_logprob": "log-probability of the greedy answer's tokens", "answer_prob": "exp(answer_logprob)",
    "answer_tokens": "number of answer tokens", "gold_logprob": "log P(gold answer | answer prompt), teacher-forced",
    "verbal_text": "the greedy confidence text", "verbal_confidence": "the value verbal_text names (NaN if none), 0-100",
    "softmax_expected": "expected value of the exact confidence distribution renormalised over the vocabulary, 0-100",
    "argmax_confidence": "value of the most probable confidence string, 0-100",
    "entropy": "entropy (nats) of the renormalised confidence distribution",
    "vocab_mass": "total probability of the confidence vocabulary at the confidence slot",
    "confidence_probs": "[n_strings] exact probability of each vocabulary string (run.vocabulary.strings order)",
    "input_ids": "token ids the model saw, ending at the confidence slot",
    "pos_*": "token index in input_ids of each position role (pos_pre_answer, pos_answer_last, pos_post_answer, "
             "pos_confidence_slot)",
}

_PROBE = {"role": "position role the residual was read at", "layer": "read-out index (blocks.L.hook_resid_pre; the "
          "last is the final resid_post)", "probe": "probe kind (logistic, diffmeans, ...)"}
_CI = {"low": "lower end of the bootstrap interval", "high": "upper end of the bootstrap interval"}
_PAIR = {"pair_id": "index of the (source, target) pair", "source_id": "example_id of the source in the source run",
         "target_id": "example_id of the target in the target run", "source_item": "item_id of the source",
         "target_item": "item_id of the target"}
_PATCHED = {**_PAIR, "layer": "block whose hook point was patched", "role": "position role patched",
            "site": "hook site patched (resid_pre, resid_post, attn_out, mlp_out)",
            "read": "position role whose next-token distribution is the read-out (the target is cut after it)",
            "patched_expected": "expected confidence of the patched run / 100 (0-1)",
            "target_expected": "expected confidence of the unpatched target / 100",
            "source_expected": "expected confidence of the source / 100",
            "expected": "the patched expected confidence again (the metric named 'expected')",
            "shift": "patched_expected - target_expected",
            "normalised_shift": "shift / (source_expected - target_expected): 1 = the source's confidence reached",
            "logit_diff": "change of log P(high level) - log P(low level) against the target",
            "kl": "KL(target || patched) of the renormalised distributions",
            "patched_argmax": "value of the patched run's most probable string",
            "target_argmax": "value of the target's most probable string",
            "argmax_unchanged": "whether the spoken (argmax) confidence stayed the same",
            "effect": "the chosen metric (config 'metric')", "answer_unchanged": "whether the greedy answer stayed the same",
            "method": "fast or reference path", "source_from": "store or forward: where the source activation came from",
            "patched_probs": "[n_strings] patched exact vocabulary distribution", "control": "which control made the row"}

COLUMNS: dict[str, dict[str, dict[str, str]]] = {
    "probes": {
        "layers": {**_PROBE, **_CI, "hook": "hook name of the read-out", "n": "examples", "n_correct": "correct examples",
                   "folds": "cross-validation folds (grouped by question)", "seeds": "number of split seeds",
                   "status": "ok, or why the layer was skipped",
                   "auroc": "held-out AUROC of the seed-averaged out-of-fold probability",
                   "auroc_seed_mean": "mean of the per-seed AUROCs", "auroc_seed_sd": "their standard deviation",
                   "C_median": "median regularisation C the inner search chose (logistic)"},
        "oof": {**_PROBE, "seed": "split seed", "example_id": "the example", "score": "out-of-fold P(correct)"},
        "fits": {**_PROBE, "seed": "split seed", "fold": "fold index", "C": "chosen C", "n_train": "training examples",
                 "n_test": "held-out examples", "n_test_correct": "correct held-out examples"},
    },
    "channels": {
        "channels": {"channel": "confidence channel (verbal, softmax_expected, argmax, answer_prob, probe)",
                     "n": "examples scored", "n_missing": "examples without a value (unparsed verbal text)",
                     "accuracy": "share correct", "mean_confidence": "mean confidence (0-1)",
                     "overconfidence": "mean_confidence - accuracy", "auroc": "AUROC, correct vs incorrect",
                     "auprc": "area under precision-recall (correct positive)", "ece": "expected calibration error",
                     "mce": "maximum calibration error", "brier": "Brier score",
                     "prr": "prediction rejection ratio (share of the oracle's gain in risk when rejecting by it)",
                     "aurc": "area under the risk-coverage curve (lower is better)",
                     "ece_mass": "ECE over equal-mass bins", "smece": "smooth ECE (relplot's kernel estimator)",
                     "*_low": "lower end of the metric's bootstrap interval",
                     "*_high": "upper end of the metric's bootstrap interval", "note": "how the channel was made"},
        "validity": {"channel": "confidence channel", "n": "examples", "n_missing": "examples without a value",
                     "thresholds": "the screen's thresholds", "ceiling_rate": "share at or above the ceiling",
                     "floor_rate": "share at or below the floor", "sparsity": "share of empty deciles",
                     "trin": "TRIN: share in the modal decile", "modal_bin": "the modal decile",
                     "r": "point-biserial r of confidence and correctness", "tier": "Valid/Indeterminate/Invalid/Undefined",
                     "reasons": "why the tier"},
        "reliability": {"channel": "confidence channel", "bin": "bin index", "lower": "bin's lower edge",
                        "upper": "bin's upper edge", "count": "examples in the bin",
                        "mean_confidence": "mean confidence in the bin", "accuracy": "accuracy in the bin",
                        "acc_low": "Wilson interval of the accuracy, low", "acc_high": "its high end"},
        "smooth": {"channel": "confidence channel", "confidence": "mesh point (0-1)",
                   "accuracy": "kernel-smoothed accuracy at that confidence", "density": "kernel density there",
                   "sigma": "the kernel bandwidth (smECE's)"},
        "risk_coverage": {"channel": "confidence channel", "coverage": "share of examples kept (most confident first)",
                          "risk": "error rate among the kept", "n_kept": "examples kept"},
        "scores": {"example_id": "the example", "item_id": "item id", "family": "dataset family",
                   "question": "question text", "correct": "graded correct", "gold_prob": "P(gold answer | prompt)",
                   "verbal": "verbal confidence / 100", "softmax_expected": "softmax expected confidence / 100",
                   "argmax": "argmax confidence / 100", "answer_prob": "probability of the answer tokens",
                   "probe": "out-of-fold probe P(correct) at the best layer",
                   "*+platt": "the channel recalibrated by Platt scaling, cross-fitted by question",
                   "*+isotonic": "the channel recalibrated by isotonic regression, cross-fitted by question",
                   "*+temperature": "the confidence distribution with one fitted temperature, cross-fitted"},
    },
    "bottleneck": {
        "summary": {"n": "examples", "n_correct": "correct examples", "auroc_softmax": "AUROC of softmax_expected",
                    "auroc_argmax": "AUROC of argmax_confidence",
                    "difference": "auroc_softmax - auroc_argmax (paired bootstrap)",
                    "*_low": "lower end of the bootstrap interval", "*_high": "upper end of the bootstrap interval",
                    "argmax_modal_value": "the argmax's most common value", "argmax_modal_share": "its share",
                    "argmax_distinct": "distinct argmax values",
                    "verdict": "bottleneck, reverse, inconclusive or too few examples",
                    "lens_peak_layer": "read-out where the logit lens's AUROC peaks",
                    "lens_peak_auroc": "the lens's AUROC there", "lens_peak_low": "its interval's lower end",
                    "lens_final_auroc": "the lens's AUROC at the last read-out",
                    "lens_lost": "lens_peak_auroc - lens_final_auroc"},
        "scores": {"example_id": "the example", "correct": "graded correct", "softmax_expected": "0-100",
                   "argmax_confidence": "0-100", "entropy": "entropy of the confidence distribution (nats)",
                   "verbal_confidence": "parsed verbal confidence, 0-100"},
        "lens": {"layer": "read-out index", "hook": "its hook name", "status": "ok or why skipped",
                 "auroc": "AUROC of the lens's expected confidence", **_CI,
                 "mean_expected": "mean lens expected confidence (0-100)",
                 "first_token_mass": "mean probability of the vocabulary's first tokens"},
        "lens_scores": {"example_id": "the example", "layer": "read-out index", "hook": "its hook name",
                        "expected": "lens expected confidence (0-100)",
                        "first_token_mass": "probability of the vocabulary's first tokens"},
    },
    "patching": {
        "effects": _PATCHED,
        "controls": _PATCHED,
        "pairs": {**_PAIR, "source_*": "the source example's record column (question, gold, answer, correct, ...)",
                  "target_*": "the target example's record column"},
        "controls_summary": {"control": "sweep or the control's name", "n_runs": "patched runs",
                             "n_pairs": "pairs", "mean_effect": "mean effect", "mean_abs_effect": "mean |effect|",
                             "share_answer_unchanged": "share of runs whose answer stayed",
                             "share_argmax_unchanged": "share whose argmax confidence stayed"},
        "controls_per_layer": {"control": "sweep or the control's name", "layer": "block",
                               "mean_effect": "mean effect over pairs"},
        "gradient": {"role": "position role", "layer": "block", "mean": "mean effect over pairs",
                     "band_low": "bootstrap interval of the mean, low", "band_high": "its high end"},
        "gradient_summary": {"role": "position role", "rho": "Spearman rho of layer vs mean effect",
                             "rho_low": "bootstrap interval (pairs resampled), low", "rho_high": "high",
                             "rho_p": "rho's p-value", "rho8": "rho over 8 evenly spaced layers",
                             "rho8_low": "its interval, low", "rho8_high": "high", "layers8": "those 8 layers",
                             "mannwhitney_u": "U of late third vs early third", "mannwhitney_p": "its p-value",
                             "late_minus_early": "mean effect, late third - early third", "n_pairs": "pairs",
                             "n_boot": "bootstrap resamples", "level": "interval level", "value": "the effect column"},
        "attribution": {"pair_id": "the pair", "layer": "block", "role": "position role", "site": "hook site",
                        "estimate": "attribution-patching (gradient) estimate of the effect",
                        "exact": "the exact effect"},
        "attribution_summary": {"spearman_per_pair_mean": "mean per-pair Spearman of estimate vs exact over layers",
                                "spearman_per_pair_median": "its median",
                                "spearman_profile": "Spearman of the mean layer profiles",
                                "n_pairs_compared": "pairs with enough variation to compare"},
    },
    "steering": {
        "effects": {"example_id": "index of the example in the run", "layer": "read-out index steered at",
                    "hook": "hook name steered (blocks.L.hook_resid_pre)",
                    "direction": "the config's direction (probe, mean_diff) or random (the control)",
                    "direction_id": "which random direction (0 for the steering direction)",
                    "alpha": "steering strength, in units of alpha_unit", "norm": "norm of the added vector",
                    "expected": "expected confidence of the steered read-out (0-1)",
                    "shift": "expected - the unsteered expected confidence (0-1)",
                    "argmax": "value of the steered read-out's most probable string",
                    "argmax_unchanged": "whether the most probable string stayed the same",
                    "verbal_text": "the greedy confidence text after steering",
                    "verbal": "the value verbal_text names (NaN if none), 0-100",
                    "verbal_shift": "verbal - the unsteered verbal value", "text_unchanged":
                    "whether the greedy confidence text stayed the same"},
        "dose": {"layer": "read-out index steered at", "direction": "steering direction or random",
                 "alpha": "steering strength", "n": "examples (random directions averaged per example)",
                 "shift": "mean shift in expected confidence (0-1)", "verbal_shift": "mean shift of the verbal value",
                 "text_unchanged": "share of confidence texts unchanged",
                 "argmax_unchanged": "share of most probable strings unchanged", "expected": "mean expected confidence",
                 "*_low": "lower end of the bootstrap interval over examples", "*_high": "upper end of it"},
        "layers": {"layer": "read-out index steered at", "hook": "its hook name", "n": "examples",
                   "slope": "per-example slope of shift on alpha through 0 (expected confidence per unit alpha), mean",
                   "random_slope": "the same for the random control (directions averaged per example)",
                   "slope_minus_random": "slope - random_slope, paired by example",
                   "*_low": "lower end of the bootstrap interval over examples", "*_high": "upper end of it",
                   "text_unchanged_at_max": "share of confidence texts unchanged at the largest |alpha|",
                   "random_text_unchanged_at_max": "the same for the random control",
                   "abs_shift_at_max": "mean |shift| at the largest |alpha|",
                   "random_abs_shift_at_max": "the same for the random control",
                   "random_abs_slope_max": "largest |mean slope| of any single random direction",
                   "beyond_random": "interval of slope_minus_random excludes 0 and |slope| > random_abs_slope_max"},
        "directions": {"layer": "read-out index", "hook": "its hook name",
                       "scale": "residual norm at (layer, confidence_slot) that alpha multiplies (1 when absolute)",
                       "source": "where the direction came from (probe file or class means)",
                       "probe_cv_auroc": "cross-validated AUROC of the probe (None for class means)",
                       "note": "a warning, e.g. a direction fitted on another model's run",
                       "cos_random_max": "largest |cosine| between the direction and a random control"},
    },
    "sampling": {
        "samples": {"example_id": "index of the example in the run", "samples": "the k sampled answers",
                    "agree": "per sample: equivalent to the greedy answer under the grader's normalisation",
                    "clusters": "per sample: its cluster id (clusters = grader equivalence)",
                    "n_clusters": "number of answer clusters among the k samples",
                    "self_consistency": "share of samples agreeing with the greedy answer (0-1)",
                    "semantic_entropy_nats": "entropy (nats) of the cluster shares",
                    "semantic_entropy": "1 - semantic_entropy_nats / log k, as a confidence (0-1)",
                    "p_true_raw": "exact P(\" True\") as the model's verdict on its own answer",
                    "p_false_raw": "exact P(\" False\") for the same question",
                    "p_true": "p_true_raw / (p_true_raw + p_false_raw) (0.5 when both are 0)"},
    },
}


def describe_column(docs: Mapping[str, str], column: str) -> str | None:
    """The doc of ``column``, exact or by a ``prefix*`` / ``*suffix`` pattern; None when undocumented."""
    if column in docs:
        return docs[column]
    for key, text in docs.items():
        if key.endswith("*") and column.startswith(key[:-1]) or key.startswith("*") and column.endswith(key[1:]):
            return text
    return None


def table_docs(analysis: str, table: str) -> dict[str, str]:
    """Column docs of one table of an analysis (``patching-*`` results use ``patching``); {} when unknown."""
    base = analysis if analysis in COLUMNS else analysis.split("-")[0]
    return COLUMNS.get(base, {}).get(table, {})


def undocumented(analysis: str, tables: Mapping[str, object]) -> list[str]:
    """``table.column`` of every column in ``tables`` (name -> DataFrame) that no doc describes."""
    return [f"{name}.{column}" for name, frame in tables.items() for column in getattr(frame, "columns", [])
            if describe_column(table_docs(analysis, name), str(column)) is None]


def markdown() -> str:
    """The column docs as markdown tables (the generated part of docs/api.md)."""
    out = ["#### Run records (`run.records`)", "", "| column | meaning |", "|---|---|"]
    out += [f"| `{column}` | {text} |" for column, text in RECORDS.items()]
    for analysis, tables in COLUMNS.items():
        for table, docs in tables.items():
            out += ["", f"#### `{analysis}` result, table `{table}`", "", "| column | meaning |", "|---|---|"]
            out += [f"| `{column}` | {text} |" for column, text in docs.items()]
    return "\n".join(out)
