"""Sampling-based confidence for a batch of questions: k sampled answers per question, their agreement with
the greedy answer and their semantic clusters (both under the grader), and P(True).

- Sampling: each answer prompt is run once, its cache repeated k times; token j of sample s of an example
  is drawn by the Gumbel-max trick from its own generator, seeded by (seed, example_id, s), so the samples
  do not depend on how examples are batched.
- Self-consistency: the share of the k samples the grader counts as the greedy answer.
- Semantic entropy (discrete): the entropy of the share of samples in each cluster, where a sample joins the
  first cluster whose first member it matches under the grader (either way round); reported as a confidence,
  1 - entropy / log k, in [0, 1].
- P(True): the model is shown its own answer and asked whether it is correct; the exact probabilities of
  " True" and " False" after "Answer:" (over all their tokens, with the trie), renormalised to sum to one.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from workbench.backends.base import Backend
from workbench.datasets import QAItem, is_correct
from workbench.elicit.decoding import DecodeState, greedy_decode
from workbench.elicit.scoring import VocabularyTrie, score_vocabulary
from workbench.prompts.render import confidence_segments, encode
from workbench.prompts.templates import PromptTemplate
from workbench.prompts.vocabulary import ConfidenceVocabulary

P_TRUE_TEMPLATE = PromptTemplate(
    name="p_true",
    user="Question: {question}\nProposed answer: {answer}\nIs the proposed answer correct? Reply True or False.",
    assistant="Answer:{confidence}",
)
TRUE_FALSE = ConfidenceVocabulary(name="true_false", strings=(" True", " False"), values=(100.0, 0.0))


def row_seed(seed: int, example_id: int, sample: int) -> int:
    """A 63-bit seed for one sample of one example, independent of batching."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{example_id}:{sample}".encode()).digest()[:8], "big") >> 1


class GumbelPicker:
    """Draws one token per row from softmax(logp / temperature), each row from its own generator."""

    def __init__(self, seeds: Sequence[int], temperature: float):
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.temperature = temperature

    def __call__(self, logp: Tensor) -> Tensor:  # logp [rows, d_vocab] -> [rows]
        uniform = torch.stack([torch.rand(logp.shape[-1], generator=g) for g in self.generators])
        gumbel = -torch.log(-torch.log(uniform.clamp(1e-20, 1 - 1e-7)))
        return (logp / self.temperature + gumbel).argmax(-1)


def sample_answers(backend: Backend, prompts: Sequence[Sequence[int]], example_ids: Sequence[int], *, k: int,
                   temperature: float, seed: int, max_tokens: int, pad_id: int, is_stop) -> list[list[str]]:
    """k sampled answer texts per prompt (stripped, as collect strips the greedy one)."""
    state = DecodeState(backend, pad_id)
    out = state.prefill(prompts)
    state.repeat(k)
    first = out.logits[:, -1].repeat_interleave(k, dim=0)  # [batch * k, d_vocab]
    picker = GumbelPicker([row_seed(seed, e, s) for e in example_ids for s in range(k)], temperature)
    tokens, _, _ = greedy_decode(state, first, max_tokens, is_stop, pick=picker)
    texts = [backend.tokenizer.decode(t).strip() for t in tokens]
    return [texts[i * k:(i + 1) * k] for i in range(len(prompts))]


def same_answer(a: str, b: str) -> bool:
    """Whether the grader counts either answer as the other (empty answers equal only each other)."""
    if not a.strip() or not b.strip():
        return not a.strip() and not b.strip()

    def item(text: str) -> QAItem:
        return QAItem(item_id="sample", question="?", answer=text, aliases=(text,), family="sample", source="sample")

    return is_correct(a, item(b)) or is_correct(b, item(a))


def clusters(samples: Sequence[str]) -> list[int]:
    """Cluster id of each sample: it joins the first cluster whose first member it matches."""
    heads: list[str] = []
    ids = []
    for text in samples:
        match = next((i for i, head in enumerate(heads) if same_answer(text, head)), None)
        if match is None:
            heads.append(text)
            match = len(heads) - 1
        ids.append(match)
    return ids


def consistency_row(greedy: str, samples: Sequence[str]) -> dict:
    """Self-consistency and semantic entropy of one example's samples."""
    agree = [same_answer(s, greedy) for s in samples]
    ids = clusters(samples)
    shares = np.bincount(ids) / len(ids)
    entropy = float(-(shares * np.log(shares)).sum())
    return {"samples": list(samples), "agree": agree, "clusters": ids, "n_clusters": int(max(ids) + 1),
            "self_consistency": float(np.mean(agree)), "semantic_entropy_nats": entropy,
            "semantic_entropy": min(1.0, max(0.0, 1.0 - entropy / math.log(len(samples))))}  # (rounding: k clusters)


def p_true(backend: Backend, questions: Sequence[str], answers: Sequence[str], pad_id: int) -> np.ndarray:
    """[batch, 2] exact probabilities of " True" and " False" as the model's verdict on its own answer."""
    tok = backend.tokenizer
    rows = [[i for part in confidence_segments(tok, P_TRUE_TEMPLATE, q, a) for i in encode(tok, part)]
            for q, a in zip(questions, answers)]
    state = DecodeState(backend, pad_id)
    out = state.prefill(rows)
    return score_vocabulary(state, VocabularyTrie.build(tok, TRUE_FALSE), out.logits[:, -1])
