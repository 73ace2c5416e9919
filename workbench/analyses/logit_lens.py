"""The logit lens at the confidence slot: each layer's residual through the final norm and unembedding,
read as a confidence distribution, and how well its expected value separates correct from incorrect.

At layer L the lens gives next-token probabilities q_L(t). A confidence string s may span several tokens
(with SmolLM2's tokenizer "100" is "1", "0", "0"), and its later tokens cannot be scored at layer L without
re-running the model from that layer. So the lens takes the first token from layer L and the rest from
the run's exact scoring at the real output:

    P_L(s) = q_L(first(s)) * P(s | first(s)),   P(s | first(s)) = P_final(s) / q_final(first(s))

which is exact at the last layer (the lens there is the model's own output, so the expected value equals
the run's ``softmax_expected``) and, at earlier layers, moves only the first-token choice. Strings that
share a first token ("1", "10".."19", "100") therefore move together: the lens resolves confidence only
as finely as the vocabulary's distinct first tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.analyses.calibration import auroc_rows, bootstrap_indices, percentile_interval
from workbench.analyses.inputs import nonfinite_rows, require_two_classes, select_roles
from workbench.backends.readout import ReadoutHead, checkpoint_head
from workbench.errors import WorkbenchError
from workbench.layer_selection import READOUT, select_layers
from workbench.store import Run


def run_head(run: Run, loaded: Any = None) -> tuple[ReadoutHead, Any]:
    """(read-out head, tokenizer) of the run's model: from ``loaded`` if given (checked against the run's weight
    checksum and width), else read alone from the run's checkpoint (final norm and unembedding only)."""
    expected = run.manifest["model"].get("checksum")
    if loaded is None:
        return checkpoint_head(run.config["model"], expected)
    actual = loaded.info.get("checksum")
    if expected and actual and expected != actual:
        raise WorkbenchError(f"the model given has checksum {actual[:19]} but the run was collected with "
                             f"{expected[:19]}; the logit lens needs the run's own model")
    if loaded.d_model != run.d_model:
        raise WorkbenchError(f"the model has d_model {loaded.d_model}, the run {run.d_model}")
    return ReadoutHead.from_model(loaded.hf_model), loaded.tokenizer


@dataclass(frozen=True)
class Lens:
    """The logit lens of one run at one role: ``probs(layer)`` is P_L(s) for every example and confidence string
    (the formula in the module docstring). ``Lens.of(run, loaded)`` reads what every layer shares once."""

    run: Run
    role: str
    head: ReadoutHead
    tokens: np.ndarray  # the vocabulary's distinct first tokens [T]
    column: np.ndarray  # each string's first token, as a column of ``tokens`` [S]
    rest: np.ndarray  # P(s | first(s)) from the run's exact scoring [n, S]

    @classmethod
    def of(cls, run: Run, loaded: Any = None, role: str = "confidence_slot") -> "Lens":
        from workbench.elicit.scoring import VocabularyTrie

        head, tokenizer = run_head(run, loaded)
        (role,) = select_roles(run, role)
        first = np.array([ids[0] for ids in VocabularyTrie.build(tokenizer, run.vocabulary).token_ids])  # [S]
        tokens, column = np.unique(first, return_inverse=True)
        final_q = np.exp(head.log_probs(run.residuals(len(run.readouts) - 1, role), tokens.tolist()))  # [n, T]
        with np.errstate(divide="ignore", invalid="ignore"):
            rest = np.where(final_q[:, column] > 1e-30, run.confidence_probs() / final_q[:, column], 0.0)
        return cls(run, role, head, tokens, column, rest.clip(0.0, 1.0))

    def probs(self, layer: int, rows: Any = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """(P_L(s) [n, S], the layer's next-token mass on each first token [n, T]) at read-out ``layer``, for the
        examples at ``rows`` of the run's records (all by default)."""
        resid = self.run.residuals(layer, self.role)[rows]
        if nonfinite_rows(resid):
            raise WorkbenchError(f"layer {layer} ({self.run.readouts[layer]}) at {self.role} holds NaN/inf activations "
                                 f"in {nonfinite_rows(resid)} examples; choose other layers")
        q = np.exp(self.head.log_probs(resid, self.tokens.tolist()))  # [n, T]
        return q[:, self.column] * self.rest[rows], q


def lens_scores(run: Run, loaded: Any = None, *, role: str = "confidence_slot",
                layers: str | Iterable[int] = "all") -> pd.DataFrame:
    """Per example and layer (long format: example_id, layer, hook, ...): ``expected`` confidence (0-100) and
    ``first_token_mass`` (share of the layer's next-token distribution on the vocabulary's first tokens).
    ``loaded``: the run's model if already loaded (else only its read-out head is read, ``run_head``)."""
    lens, values = Lens.of(run, loaded, role), np.asarray(run.vocabulary.values)  # values [S]
    frames = []
    chosen = select_layers(layers, len(run.readouts), READOUT, "this run")
    for layer in run.stored_readouts if layers == "all" else chosen:  # 'all': every stored read-out
        p, q = lens.probs(layer)  # [n, S], [n, T]
        mass = p.sum(axis=1)
        expected = np.where(mass > 0, (p @ values) / np.where(mass > 0, mass, 1.0), np.nan)
        frames.append(pd.DataFrame({"example_id": run.records["example_id"].to_numpy(), "layer": layer,
                                    "hook": run.readouts[layer], "expected": expected, "first_token_mass": q.sum(axis=1)}))
    return pd.concat(frames, ignore_index=True)


def lens_auroc(scores: pd.DataFrame, correct: np.ndarray, *, n_boot: int = 1000, level: float = 0.95,
               seed: int = 0) -> pd.DataFrame:
    """Per layer: AUROC of the lens's expected confidence with a bootstrap interval, and mean mass."""
    correct = np.asarray(correct, dtype=bool)
    require_two_classes(correct, "the logit-lens AUROC")
    idx = bootstrap_indices(correct, n_boot=n_boot, seed=seed)  # [n_boot, n]
    rows = []
    for (layer, hook), part in scores.groupby(["layer", "hook"], sort=True):
        expected = part["expected"].to_numpy()
        if len(expected) != len(correct):
            raise WorkbenchError(f"layer {layer} has {len(expected)} scores for {len(correct)} examples")
        if np.isnan(expected).any():
            rows.append({"layer": layer, "hook": hook, "status": "skipped: no vocabulary mass at this layer"})
            continue
        low, high = percentile_interval(auroc_rows(expected[idx], correct[idx]), level)
        rows.append({"layer": layer, "hook": hook, "status": "ok",
                     "auroc": float(auroc_rows(expected[None], correct[None])[0]), "low": low, "high": high,
                     "mean_expected": float(expected.mean()), "first_token_mass": float(part["first_token_mass"].mean())})
    return pd.DataFrame(rows)
