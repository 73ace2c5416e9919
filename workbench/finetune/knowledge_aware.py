"""Knowledge-aware fine-tuning (``--strategy knowledge-aware``), after CogCalib.

Wang et al., "Towards Objective Fine-tuning: How LLMs' Prior Knowledge Causes Potential Poor Calibration?"
(ACL 2025, arXiv 2505.20903) find that training items the model already knows make fine-tuning overconfident,
and propose CogCalib: measure each item's familiarity with the model's logit entropy and gradient sensitivity,
then train with a curriculum and a confidence regulariser on familiar items. The paper's text available to us
says no more than that, so the rest is our choice, each stated here and fixed as a constant:

- **Familiarity** of a training item, measured once with the base model (its fresh adapter, B = 0, adds
  nothing): the mean next-token entropy over the gold answer's tokens, and the norm of the gradient of the
  gold answer's mean negative log-likelihood with respect to the adapter's weights (one backward pass per
  item). Both are low on items the model already knows. Familiarity = -(z(entropy) + z(gradient norm)) / 2,
  z-scored over the training items; an item is *familiar* when its familiarity is above the mean (> 0).
- **Curriculum**, familiar to unfamiliar: items are ordered by familiarity, most familiar first; step s draws
  its batch (seeded, without replacement) from the first ``ceil(n * share(s))`` of them, where the share grows
  linearly from ``START_SHARE`` at step 0 to all items at ``FULL_AT`` of the steps. A pure function of (seed,
  step), so a resumed run sees the batches an uninterrupted one would.
- **Confidence regulariser** on familiar items only: the answer loss minus ``BETA`` times the mean entropy of
  the next-token distribution at their answer positions (the confidence penalty of Pereyra et al. 2017), so
  items the model knows cannot drive their answer probability to 1. Unfamiliar items keep the plain loss.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

STRATEGIES: tuple[str, ...] = ("standard", "knowledge-aware")
BETA = 0.5  # weight of the entropy bonus on familiar items
START_SHARE, FULL_AT = 0.5, 0.5  # the curriculum starts on the most familiar half, reaches all items at half the steps


def entropy(logp: Tensor) -> Tensor:
    """[rows] entropy of next-token distributions given as log-probs [rows, d_vocab]."""
    return -(logp.exp() * logp).sum(-1)


def familiarity(model: Any, forward: Any, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(familiarity, entropy, gradient norm) [n] each, for examples 0..n-1.

    ``forward(i) -> (log P of example i's gold tokens [k], next-token log-probs there [k, d_vocab])`` runs
    ``model`` with gradients on; the norm is over the gradients its trainable (adapter) weights receive.
    """
    trainable = [p for p in model.parameters() if p.requires_grad]
    entropies, norms = [], []
    for i in range(n):
        gold, logp = forward(i)
        (-gold.mean()).backward()
        norms.append(float(torch.sqrt(sum((p.grad.float() ** 2).sum() for p in trainable if p.grad is not None))))
        model.zero_grad(set_to_none=True)
        entropies.append(float(entropy(logp.detach()).mean()))
    ent, norm = np.asarray(entropies), np.asarray(norms)
    return -(_z(ent) + _z(norm)) / 2, ent, norm


def _z(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


def curriculum_indices(order: np.ndarray, batch_size: int, seed: int, step: int, steps: int) -> np.ndarray:
    """Example indices of batch ``step``: a seeded draw from the most familiar ``ceil(n * share)`` examples of
    ``order`` (indices, most familiar first), the share growing from ``START_SHARE`` to 1 at ``FULL_AT * steps``."""
    n = len(order)
    share = min(1.0, START_SHARE + (1 - START_SHARE) * step / max(1.0, FULL_AT * steps))
    pool = order[: max(1, math.ceil(n * share))]
    rng = np.random.default_rng([seed, step, 7])
    return rng.choice(pool, size=batch_size, replace=batch_size > len(pool))


def regularised_answer_loss(token_logp: Tensor, logp: Tensor, familiar_rows: Tensor) -> tuple[Tensor, dict]:
    """The answer loss of one batch: mean NLL of the gold tokens [k] minus ``BETA`` times the mean entropy of the
    next-token distributions [k, d_vocab] at the familiar examples' positions (``familiar_rows`` [k] bool)."""
    nll = -token_logp.mean()
    if not bool(familiar_rows.any()):
        return nll, {"loss": nll.item(), "answer_nll": nll.item(), "familiar_entropy": float("nan")}
    bonus = entropy(logp[familiar_rows]).mean()
    total = nll - BETA * bonus * familiar_rows.float().mean()
    return total, {"loss": total.item(), "answer_nll": nll.item(), "familiar_entropy": bonus.item()}
