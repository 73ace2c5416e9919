"""Elicit answers and confidences for a batch of QA items, with the residual stream at every role.

One batch: the gold answer's probability and the greedy answer -> the text up to the confidence slot ->
the exact distribution over the confidence vocabulary and the greedy verbal confidence. The residual
stream is read at each role while it is computed, with no second forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from workbench.backends.base import Backend
from workbench.datasets import QAItem, is_correct
from workbench.elicit.confidence import Confidence
from workbench.elicit.decoding import DecodeState, greedy_decode, pad_rows
from workbench.elicit.scoring import VocabularyTrie, score_vocabulary
from workbench.layer_selection import residual_hooks
from workbench.prompts.render import ROLES, answer_prompt, confidence_segments, encode, gold_continuation, role_positions
from workbench.prompts.templates import PromptTemplate
from workbench.prompts.vocabulary import ConfidenceVocabulary


@dataclass(frozen=True, kw_only=True)
class ElicitSettings:
    """How to ask: the template, the confidence vocabulary, and generation lengths."""

    template: PromptTemplate
    vocabulary: ConfidenceVocabulary
    max_answer_tokens: int = 24
    max_confidence_tokens: int = 4
    grading: str = "exact"  # datasets.grading.GRADINGS
    fast: bool = True  # the exact shortcuts of ``DecodeState`` (shared prefix once, logits only where read)


class Elicitor:
    """Elicits batches of items on one backend with fixed settings."""

    def __init__(self, backend: Backend, settings: ElicitSettings):
        self.backend, self.settings = backend, settings
        tok = backend.tokenizer
        self.trie = VocabularyTrie.build(tok, settings.vocabulary)
        self.hooks = residual_hooks(backend.n_layers)
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        special = set(tok.all_special_ids)
        self._stop = lambda t: t in special or "\n" in tok.decode([t])

    def _layers(self, acts: dict[str, Tensor]) -> Tensor:
        return torch.stack([acts[h].float().cpu() for h in self.hooks], dim=1)  # [batch, layer, (k,) d_model]

    def batch(self, items: Sequence[QAItem]) -> tuple[list[dict[str, Any]], np.ndarray]:
        """Records (one dict per item) and residuals [batch, layer, role, d_model], roles in ``ROLES`` order."""
        s, tok = self.settings, self.backend.tokenizer
        in_place = s.template.answers_in_place
        prompts = [answer_prompt(tok, s.template, item.question) for item in items]
        prompt_ids = [encode(tok, p) for p in prompts]
        state = DecodeState(self.backend, self.pad_id, fast=s.fast)
        out = state.prefill(prompt_ids, cache=self.hooks if in_place else (),
                            positions=[[len(p) - 1] for p in prompt_ids])
        gold_lp = self._gold_logprobs(state, out.logits[:, -1], [
            encode(tok, gold_continuation(p, item.answer)) for p, item in zip(prompts, items)])
        answers, answer_lp, last = greedy_decode(state, out.logits[:, -1], s.max_answer_tokens, self._stop,
                                                 cache=self.hooks if in_place else ())
        texts = [tok.decode(a).strip() for a in answers]
        if in_place:
            after = encode(tok, confidence_segments(tok, s.template, items[0].question, "")[2])
            pre = self._layers(out.activations)[:, :, 0]  # [batch, layer, d_model]
            fed = torch.tensor([len(a) > 0 for a in answers])[:, None, None]
            answer_last = torch.where(fed, self._layers(last), pre) if last else pre
            ids = torch.tensor(after).expand(len(items), -1)
            out = state.extend(ids, torch.ones_like(ids), cache=self.hooks, last_logits_only=True,
                               cache_positions=torch.tensor([[0, len(after) - 1]]).expand(len(items), -1))
            tail = self._layers(out.activations)  # [batch, layer, 2, d_model]
            resid = torch.stack([pre, answer_last, tail[:, :, 0], tail[:, :, 1]], dim=2)
            segments = [(p, a, after) for p, a in zip(prompt_ids, answers)]
        else:
            segments = [tuple(encode(tok, part) for part in confidence_segments(tok, s.template, item.question, text))
                        for item, text in zip(items, texts)]
            roles = [role_positions(*map(len, seg)) for seg in segments]
            state = DecodeState(self.backend, self.pad_id, fast=s.fast)
            out = state.prefill([b + a + c for b, a, c in segments], cache=self.hooks,
                                positions=[[r[role] for role in ROLES] for r in roles])
            resid = self._layers(out.activations)
        slot_logits = out.logits[:, -1]
        probs = score_vocabulary(state, self.trie, slot_logits)
        verbal, _, _ = greedy_decode(state, slot_logits, s.max_confidence_tokens, lambda t: False)
        records = [self._record(item, texts[i], answer_lp[i], gold_lp[i], segments[i], probs[i], tok.decode(verbal[i]))
                   for i, item in enumerate(items)]
        return records, resid.numpy()

    def _gold_logprobs(self, state: DecodeState, first_logits: Tensor, golds: list[list[int]]) -> list[float]:
        """log P(gold answer tokens | answer prompt), teacher-forced on the prompt's cache, which is restored."""
        length = state.length
        ids, real = pad_rows(golds, self.pad_id, left=False)
        out = state.extend(ids, real)
        state.truncate(length)
        logp = torch.cat([first_logits[:, None], out.logits[:, :-1]], dim=1).float().log_softmax(-1).cpu()
        picked = logp.gather(2, ids[:, :, None])[:, :, 0]
        return (picked * real).sum(1).tolist()

    def _record(self, item: QAItem, answer: str, answer_lp: list[float], gold_lp: float,
                segments: tuple[list[int], list[int], list[int]], probs: np.ndarray, verbal: str) -> dict[str, Any]:
        vocab = self.settings.vocabulary
        read = Confidence(probs[None], vocab)  # the one definition of every read-out below
        roles = role_positions(*map(len, segments))
        return {
            "item_id": item.item_id, "family": item.family, "question": item.question, "gold": item.answer,
            "aliases": list(item.aliases), "answer": answer, "correct": bool(is_correct(answer, item, self.settings.grading)),
            "answer_logprob": float(sum(answer_lp)), "answer_prob": float(np.exp(sum(answer_lp))),
            "answer_tokens": len(segments[1]), "gold_logprob": float(gold_lp),
            "verbal_text": verbal, "verbal_confidence": vocab.parse(verbal),
            "softmax_expected": float(read.expected[0]), "argmax_confidence": float(read.argmax[0]),
            "entropy": float(read.entropy[0]), "vocab_mass": float(read.mass[0]), "confidence_probs": probs.astype(np.float64).tolist(),
            "input_ids": [*segments[0], *segments[1], *segments[2]],
            **{f"pos_{role}": roles[role] for role in ROLES},
        }
