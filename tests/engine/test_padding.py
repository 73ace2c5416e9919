"""Batched equals unbatched: padding never changes a number, on every architecture row and both backends, fp32.

Where the workbench pads: collect's decoding (``elicit.decoding.DecodeState``) left-pads prompts, right-pads the
gold answers it scores by teacher forcing, leaves holes where a row has stopped answering, and, with ``fast``,
pads after the template prefix that every row shares; ``confidence_of`` takes left padding (right padding is
refused); fast patching right-pads its targets. Each is compared with the same rows run one at a time: the
lowest level (``DecodeState.extend`` with left padding, right padding and holes), collect's batch read-out
(``Elicitor.batch``: answers, confidence read-outs, residuals at every role), ``confidence_of``, and
``run_fast``. Rows are longer than the tiny models' 4-token sliding windows (tests/engine/conftest.py).

Tolerance: 1e-5, relative to the largest |value| (as tests/engine/test_parity.py), absolute on probabilities.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.analyses.patching import fast
from workbench.analyses.patching.job import PatchJob
from workbench.backends.base import hook_name
from workbench.datasets import QAItem
from workbench.elicit import Elicitor, ElicitSettings, residual_hooks
from workbench.elicit.confidence import confidence_of
from workbench.elicit.decoding import DecodeState, pad_rows
from workbench.elicit.scoring import VocabularyTrie
from workbench.prompts.templates import PromptTemplate
from workbench.prompts.vocabulary import ConfidenceVocabulary

ROWS = ("llama", "mistral", "qwen2", "qwen3", "gemma3_text")
BACKENDS = ("transformer_lens", "nnsight")
FP32_REL = 1e-5
SEQUENCES = ((1, 5, 6, 10, 11, 12, 13, 14, 15, 9), (1, 5, 6, 20, 9), (1, 5, 6, 30, 31, 32, 33, 34, 35, 36, 37, 38, 9),
             (1, 5, 6, 40, 41, 42, 43, 9))
# Two of the four strings span two tokens (digits are ids 86..95 of the word tokenizer): the trie has two nodes.
VOCABULARY = ConfidenceVocabulary(name="tiny", strings=("0", "1", "1 2", "3 4"), values=(0.0, 30.0, 60.0, 100.0))
TEMPLATES = {  # the word tokenizer reads only "tN" words and digits; it has no chat template (plain text)
    "in_place": PromptTemplate(name="in_place", user=" t5 t6 t7 t8 t9 t10 t11 t12 t13 {question}",
                               assistant="t14 {answer} t15 t16 {confidence}"),
    "given": PromptTemplate(name="given", user=" t5 t6 t7 t8 t9 t10 t11 t12 {question} t13 {answer} t14",
                            assistant="t15 {confidence}", answer_user=" t17 t18 t19 t20 t21 t22 t23 {question} t25"),
}
QUESTIONS = ("t40 t41", "t50 t51 t52 t53 t54 t55", "t60", "t70 t71 t72 t73")


def relative(a, b) -> float:
    a, b = torch.as_tensor(np.asarray(a, dtype=np.float64)), torch.as_tensor(np.asarray(b, dtype=np.float64))
    return float((a - b).abs().max() / b.abs().max())


def feed(backend, chunks: list[tuple[torch.Tensor, torch.Tensor]]) -> list[torch.Tensor]:
    """Chunks (ids [batch, n], real [batch, n]) into one DecodeState: per row, [logits | every residual read-out]
    at its real tokens, in order."""
    hooks = residual_hooks(backend.n_layers)
    state, rows = DecodeState(backend, pad_id=0), [[] for _ in chunks[0][0]]
    for ids, real in chunks:
        out = state.extend(ids, real, cache=hooks)
        for i, keep in enumerate(real.bool()):
            rows[i].append(torch.cat([out.logits[i, keep], *(out.activations[h][i, keep] for h in hooks)], -1))
    return [torch.cat(parts) for parts in rows]


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("row", ROWS)
@pytest.mark.parametrize("left", [True, False], ids=["left", "right"])
def test_decode_state_pads_and_holes_like_one_row_alone(row, backend_name, left, row_backends):
    """Prompts padded on one side, then three tokens per row with holes (a row that stopped), then one more."""
    backend = row_backends(row)[backend_name]
    holes = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 0, 1], [0, 1, 0]])
    chunks = [pad_rows(SEQUENCES, 0, left=left), (torch.arange(50, 62).reshape(4, 3), holes),
              (torch.full((4, 1), 70), torch.ones(4, 1, dtype=torch.long))]
    batched = feed(backend, chunks)
    for i in range(len(SEQUENCES)):
        alone = feed(backend, [(ids[i][real[i].bool()][None], real[i][real[i].bool()][None]) for ids, real in chunks
                               if real[i].any()])
        assert relative(batched[i], alone[0]) <= FP32_REL, i


def items() -> list[QAItem]:
    return [QAItem(item_id=f"words/{i}", question=q, answer="t80 t81", aliases=("t80 t81",), family="words",
                   source="test") for i, q in enumerate(QUESTIONS)]


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("row", ROWS)
@pytest.mark.parametrize("template", TEMPLATES)
def test_collect_batch_equals_one_item_at_a_time(row, backend_name, template, row_backends):
    """Collect's read-out of a batch mixing prompt lengths, with and without its shared-prefix shortcut: the same
    greedy answers, verbal confidences, answer and gold log-probs, vocabulary probabilities and residuals at every
    read-out and role as each item alone."""
    backend = row_backends(row)[backend_name]
    for shortcut in (False, True):
        elicitor = Elicitor(backend, ElicitSettings(template=TEMPLATES[template], vocabulary=VOCABULARY,
                                                    max_answer_tokens=5, fast=shortcut))
        records, resid = elicitor.batch(items())
        alone = [elicitor.batch([item]) for item in items()]
        assert len({len(r["input_ids"]) for r in records}) > 1  # the batch mixes lengths: it is padded
        for key in ("answer", "verbal_text", "input_ids"):
            assert [r[key] for r in records] == [a[0][0][key] for a in alone], (key, shortcut)
        for key in ("answer_logprob", "gold_logprob"):
            assert relative([r[key] for r in records], [a[0][0][key] for a in alone]) <= FP32_REL, (key, shortcut)
        probs = np.array([r["confidence_probs"] for r in records])
        assert np.abs(probs - np.array([a[0][0]["confidence_probs"] for a in alone])).max() <= FP32_REL, shortcut
        assert relative(resid, np.concatenate([a[1] for a in alone])) <= FP32_REL, shortcut


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("row", ROWS)
def test_confidence_of_left_padded_equals_each_row_alone(row, backend_name, row_backends):
    backend = row_backends(row)[backend_name]
    ids, real = pad_rows(SEQUENCES, 0, left=True)
    batched = confidence_of(backend, ids, vocabulary=VOCABULARY, attention_mask=real).probs
    alone = np.concatenate([confidence_of(backend, [s], vocabulary=VOCABULARY).probs for s in SEQUENCES])
    assert np.abs(batched - alone).max() <= FP32_REL


TRIE = VocabularyTrie(token_ids=((50,), (51,), (51, 52), (53, 54)), nodes=((51,), (53,)), parents=(-1, -1))


def patch_job(backend) -> PatchJob:
    """Four pairs on the four sequences as targets (one target twice), patched at the slot or before it (a longer
    suffix, across the sliding window), with another sequence's resid_pre at its slot, at every layer."""
    layers = tuple(range(backend.n_layers))
    positions = (9, 4, 9, 6)
    target_of_pair, source_of_pair = (0, 1, 2, 2, 3), (1, 2, 3, 0, 0)
    hooks = [hook_name(layer, "resid_pre") for layer in layers]
    slots = {s: backend.run(torch.tensor([SEQUENCES[s]]), cache=hooks).activations for s in set(source_of_pair)}
    values = torch.stack([torch.stack([slots[s][h][0, -1] for h in hooks]) for s in source_of_pair]).float()
    spans = ((3, 5), (3, 4), (3, 6), (6, 7))
    return PatchJob(site="resid_pre", layers=layers, targets=SEQUENCES, positions=positions, answer_spans=spans,
                    target_of_pair=target_of_pair, values=values, trie=TRIE)


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("row", ROWS)
def test_fast_patching_batched_equals_one_target_at_a_time(row, backend_name, row_backends, monkeypatch):
    """Targets of different lengths in one clean forward and one batch of rows (then in clean groups of two, one
    run per row and one pair per batch), as each pair alone (its target alone in the job)."""
    backend = row_backends(row)[backend_name]
    job = patch_job(backend)
    alone = []
    for i, t in enumerate(job.target_of_pair):
        one = PatchJob(site=job.site, layers=job.layers, targets=(job.targets[t],), positions=(job.positions[t],),
                       answer_spans=(job.answer_spans[t],), target_of_pair=(0,), values=job.values[i:i + 1],
                       trie=job.trie)
        alone.append(fast.run_fast(backend, one))
    for group, row_columns, budget in ((fast.CLEAN_BATCH, fast.ROW_COLUMNS, fast.TOKEN_BUDGET), (2, 1, 1)):
        monkeypatch.setattr(fast, "CLEAN_BATCH", group)
        monkeypatch.setattr(fast, "ROW_COLUMNS", row_columns)
        monkeypatch.setattr(fast, "TOKEN_BUDGET", budget)
        batched = fast.run_fast(backend, job)
        assert np.abs(batched.patched - np.concatenate([a.patched for a in alone])).max() <= FP32_REL, group
        clean = np.concatenate([a.clean for a in alone])
        assert np.abs(batched.clean[list(job.target_of_pair)] - clean).max() <= FP32_REL, group
        assert (batched.answer_unchanged == np.concatenate([a.answer_unchanged for a in alone])).all(), group
    assert np.abs(batched.patched - clean[:, None]).max() > 1e-3  # the patches move the read-out
