"""Training examples from a stored run, the seeded batch order, and item splits for evaluation.

A run record already holds everything fine-tuning needs: the exact token ids up to the confidence slot
(``input_ids``, whose last token is the slot), the positions of the answer, whether it was correct and
the gold answer. So training never re-generates anything: the confidence objective is teacher-forced on
the base model's own answer, and the "standard fine-tuning" objective on the gold answer.

Evaluation needs items the training never saw: ``split_items`` makes disjoint training, held-out and
out-of-distribution (one whole family) item lists, and ``write_items`` stores them as workbench JSONL so
``collect --dataset FILE`` collects exactly those items, with the base model and later with a fine-tuned one.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.datasets import QAItem, load_dataset
from workbench.errors import WorkbenchError
from workbench.prompts.render import answer_prompt, encode, gold_continuation
from workbench.prompts.templates import PromptTemplate
from workbench.store import Run
from workbench.store.provenance import write_bytes_atomic


@dataclass(frozen=True)
class Example:
    """One training example.

    ``input_ids`` end at the confidence slot; positions ``answer_start .. answer_stop - 1`` predict the
    answer's tokens and the token after it (what "keeping the answer" protects). ``gold_ids`` are the
    prompt, the gold answer and the token after it; positions ``gold_start .. len(gold_ids) - 2`` predict the
    gold answer and that token (the standard fine-tuning objective).
    """

    example_id: int
    item_id: str
    correct: bool
    input_ids: tuple[int, ...]
    answer_start: int
    answer_stop: int
    gold_ids: tuple[int, ...]
    gold_start: int


def check_classes(correct, min_per_class: int, where: str = "the training items") -> None:
    """A clear error unless both correct and incorrect answers number at least ``min_per_class``."""
    correct = np.asarray(correct, dtype=bool)
    n_pos, n_neg = int(correct.sum()), int((~correct).sum())
    if min(n_pos, n_neg) < min_per_class:
        fewer = "correct" if n_pos < n_neg else "incorrect"
        raise WorkbenchError(
            f"too few {fewer} answers in {where}: {n_pos} correct and {n_neg} incorrect, at least {min_per_class} of "
            f"each are needed for a target that means anything; collect more (or easier/harder) items, or lower "
            f"min_per_class")


def training_examples(run: Run, tokenizer: Any) -> list[Example]:
    """One ``Example`` per record of ``run``, with the gold continuation tokenized as the elicitation does."""
    template = PromptTemplate.from_dict(run.manifest["template"])
    if not template.answers_in_place:
        raise WorkbenchError(f"run {run.path} used template {template.name!r}, where the model does not write its own "
                             "answer; fine-tuning needs a template that answers in place (e.g. answer_then_confidence)")
    examples = []
    for row in run.records.itertuples():
        ids = tuple(int(t) for t in row.input_ids)
        pre, last, post = int(row.pos_pre_answer), int(row.pos_answer_last), int(row.pos_post_answer)
        prompt = answer_prompt(tokenizer, template, row.question)
        prompt_ids = encode(tokenizer, prompt)
        if tuple(prompt_ids) != ids[:pre + 1]:
            raise WorkbenchError(f"the tokenizer given does not reproduce run {run.path}'s prompt ids (example "
                                 f"{row.example_id}); fine-tune with the model the run was collected with")
        gold = tuple(encode(tokenizer, gold_continuation(prompt, row.gold)))
        examples.append(Example(example_id=int(row.example_id), item_id=str(row.item_id), correct=bool(row.correct),
                                input_ids=ids, answer_start=pre, answer_stop=last + 1,
                                gold_ids=(*ids[:pre + 1], *gold, ids[post]), gold_start=pre))
    return examples


def batch_indices(n: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """Example indices of batch ``step``: consecutive slices of one seeded permutation per epoch.

    A pure function of (n, batch_size, seed, step), so a resumed run sees exactly the batches the
    uninterrupted run would have seen.
    """
    positions = np.arange(step * batch_size, (step + 1) * batch_size)
    epochs, offsets = np.divmod(positions, n)
    perms = {int(e): np.random.default_rng([seed, int(e)]).permutation(n) for e in np.unique(epochs)}
    return np.array([perms[int(e)][o] for e, o in zip(epochs, offsets)])


# ---- item splits for evaluation ----------------------------------------------------------------------------

def split_items(dataset: str = "all", *, ood_family: str, n_train: int, n_heldout: int, n_ood: int, seed: int = 0,
                families: Sequence[str] | None = None) -> dict[str, list[QAItem]]:
    """Disjoint ``train`` and ``heldout`` items (no question in both) from every family but ``ood_family``,
    and ``ood`` items of ``ood_family`` only. ``families`` (item_id prefixes such as ``arithmetic/add1``)
    restricts the in-distribution pool. Seeded; each list keeps the dataset's order.
    """
    items = load_dataset(dataset)
    ood = [it for it in items if it.family == ood_family]
    if not ood:
        raise WorkbenchError(f"no items of family {ood_family!r} in {dataset!r}; families: "
                             f"{', '.join(sorted({it.family for it in items}))}")
    first: dict[str, QAItem] = {}  # one item per question, in the dataset's order
    for it in items:
        if it.family != ood_family and (families is None or any(it.item_id.startswith(f) for f in families)):
            first.setdefault(it.question.strip().lower(), it)
    questions = sorted(first)
    random.Random(f"{seed}/split").shuffle(questions)
    if n_train + n_heldout > len(questions) or n_ood > len(ood):
        raise WorkbenchError(f"asked for {n_train} + {n_heldout} in-distribution and {n_ood} OOD items, but the pool "
                             f"has {len(questions)} distinct questions and {len(ood)} OOD items")
    train_q, held_q = set(questions[:n_train]), set(questions[n_train:n_train + n_heldout])
    train = [it for q, it in first.items() if q in train_q]
    heldout = [it for q, it in first.items() if q in held_q]
    ood_pick = set(random.Random(f"{seed}/ood").sample(range(len(ood)), n_ood))
    return {"train": train, "heldout": heldout, "ood": [it for i, it in enumerate(ood) if i in ood_pick]}


def write_items(items: Sequence[QAItem], path: str | Path) -> Path:
    """Items as workbench JSONL (one ``QAItem.to_dict()`` a line), written atomically."""
    path = Path(path)
    payload = "".join(json.dumps(it.to_dict(), ensure_ascii=False) + "\n" for it in items)
    write_bytes_atomic(path, payload.encode())
    return path


def subset_run(run: Run, example_ids: Sequence[int], out: str | Path) -> Run:
    """A new run at ``out`` holding only ``example_ids`` of ``run`` (records and residuals copied, no model run).

    Its config is the original's plus ``subset_of`` (the original's hash) and the chosen ids, so it hashes
    differently and traces back to its source.
    """
    from workbench.store import RunWriter, config_hash, open_run

    records = run.records.set_index("example_id")
    ids = [int(e) for e in example_ids]
    missing = [e for e in ids if e not in records.index]
    if missing or not ids:
        raise WorkbenchError(f"examples {missing[:5]} are not in run {run.path}" if missing else "no examples chosen")
    positions = records.index.get_indexer(ids)
    resid = np.stack([np.stack([run.residuals(layer, role)[positions] for role in run.roles], axis=1)
                      for layer in range(len(run.readouts))], axis=1)  # [n, layer, role, d_model]
    config = {**run.config, "subset_of": run.manifest.get("config_hash"), "example_ids": ids}
    header = {k: v for k, v in run.manifest.items()
              if k not in ("shards", "n_examples", "complete", "format", "accuracy", "mean_verbal")}
    header.update(config=config, config_hash=config_hash(config), n_items=len(ids))
    writer = RunWriter(out, header)
    if writer.n_done == 0:
        rows = records.loc[ids].reset_index(drop=True).to_dict("records")
        writer.append(rows, resid)
        writer.finish(accuracy=float(np.mean([r["correct"] for r in rows])))
    return open_run(out)
