"""Train a LoRA adapter so the model's confidence says what its probe knows (or a comparison target).

Objectives (``FinetuneConfig.objective``):

- ``confidence``: cross-entropy between the target distribution over the confidence vocabulary
  (``targets.target_distribution``) and the model's exact vocabulary distribution at the confidence slot
  (``loss.vocabulary_logprobs``), teacher-forced on the base model's own answer, plus ``answer_kl`` times
  KL(base || fine-tuned) of the next-token distributions at the positions that produce the answer (and the
  token after it), so the answer is kept. Cross-entropy rather than expected-value regression: a mean
  constrains one number, and any distribution with that mean (say, half "0" and half "100") satisfies it
  while its argmax, which is what greedy text says, can be anything; matching the whole target pins the
  spoken string as well as the expected value.
- ``answer``: "standard fine-tuning", the plain supervised loss on the gold answer's tokens, no
  confidence term: the baseline that measures how ordinary fine-tuning moves calibration. With
  ``strategy="knowledge-aware"`` (``workbench.finetune.knowledge_aware``, after CogCalib) the batches follow a
  familiar-first curriculum and familiar items pay a confidence penalty.

LoRA on ``q_proj`` and ``v_proj`` by default (the original LoRA recipe; they let the confidence slot read
and write along new directions at every layer while the MLPs, where much factual recall lives, stay as
they are). Checkpoints (adapter, optimiser state, step, loss history) are written every
``checkpoint_every`` steps, each atomically; a re-run with the same config resumes from the last one, and
batches are a pure function of (seed, step), so a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from workbench.configs import FinetuneConfig
from workbench.elicit.scoring import VocabularyTrie
from workbench.errors import WorkbenchError
from workbench.finetune import adapter as adapters
from workbench.finetune import knowledge_aware as ka
from workbench.finetune import loss as L
from workbench.finetune.data import Example, batch_indices, check_classes, training_examples
from workbench.finetune.targets import resolve_probe, target_distribution, target_probabilities
from workbench.store import Run, config_hash, provenance
from workbench.store.paths import check_output_dir
from workbench.store.provenance import write_json_atomic

OBJECTIVES: tuple[str, ...] = ("confidence", "answer")


@dataclass(frozen=True)
class TrainResult:
    """Where the adapter is, its manifest, and the per-step loss history."""

    path: Path
    manifest: dict[str, Any]

    @property
    def history(self) -> list[dict[str, float]]:
        return self.manifest["history"]

    @property
    def complete(self) -> bool:
        return bool(self.manifest.get("complete"))


@dataclass
class Trainer:
    """The model with its adapter, the examples and their targets: what one step needs."""

    model: Any
    tokenizer: Any
    config: FinetuneConfig
    examples: list[Example]
    targets: torch.Tensor  # [n, V] target distributions (confidence objective)
    trie: VocabularyTrie
    base_answer: list[torch.Tensor]  # per example [n_answer_positions, d_vocab] float16 base log-probs
    pad_id: int
    familiar: np.ndarray | None = None  # [n] bool, the knowledge-aware strategy's familiar examples
    order: np.ndarray | None = None  # [n] example indices, most familiar first (its curriculum)

    def gold_logprobs(self, index) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(log P of each gold answer token [k], next-token log-probs there [k, d_vocab], the example of each [k])
        of examples ``index``: what the answer objective reads."""
        chosen = [self.examples[i] for i in index]
        rows = [e.gold_ids for e in chosen]
        spans = [(e.gold_start, len(e.gold_ids) - 1) for e in chosen]
        batch = L.tree_batch(rows, None, self.pad_id, read_from=min(a for a, _ in spans))
        logp = L.span_logprobs(self.model, batch, L.hidden_states(self.model, batch), spans)
        nxt = torch.tensor([rows[i][p + 1] for i, (a, b) in enumerate(spans) for p in range(a, b)], device=logp.device)
        owner = torch.cat([torch.full((b - a,), int(i)) for i, (a, b) in zip(index, spans)])
        return logp.gather(1, nxt[:, None])[:, 0], logp, owner

    def loss(self, index: np.ndarray) -> tuple[torch.Tensor, dict[str, float]]:
        """Mean loss of examples ``index`` and its parts."""
        chosen = [self.examples[i] for i in index]
        if self.config.objective == "answer":
            gold, logp, owner = self.gold_logprobs(index)
            if self.familiar is not None:
                return ka.regularised_answer_loss(gold, logp, torch.from_numpy(self.familiar)[owner].to(logp.device))
            nll = -gold.mean()
            return nll, {"loss": nll.item(), "answer_nll": nll.item()}
        spans = [(e.answer_start, e.answer_stop) for e in chosen]
        batch = L.tree_batch([e.input_ids for e in chosen], self.trie, self.pad_id,
                             read_from=min(a for a, _ in spans))
        hidden = L.hidden_states(self.model, batch)
        ce = L.soft_cross_entropy(L.vocabulary_logprobs(self.model, batch, self.trie, hidden),
                                  self.targets[torch.as_tensor(index)]).mean()
        total, parts = ce, {"confidence_ce": ce.item()}
        if self.config.answer_kl > 0:
            kl = L.kl_divergence(torch.cat([self.base_answer[i] for i in index]),
                                 L.span_logprobs(self.model, batch, hidden, spans)).mean()
            total = total + self.config.answer_kl * kl
            parts["answer_kl"] = kl.item()
        return total, {"loss": total.item(), **parts}

    @torch.no_grad()
    def evaluate(self, index: np.ndarray | None = None) -> dict[str, float]:
        """Mean loss parts over examples ``index`` (all by default), in batches, without gradients."""
        index = np.arange(len(self.examples)) if index is None else np.asarray(index)
        sums: dict[str, float] = {}
        for lo in range(0, len(index), self.config.batch_size):
            part = index[lo:lo + self.config.batch_size]
            _, parts = self.loss(part)
            for key, value in parts.items():
                sums[key] = sums.get(key, 0.0) + value * len(part)
        return {key: value / len(index) for key, value in sums.items()}


def _base_answer_logprobs(model: Any, examples: list[Example], pad_id: int, batch_size: int,
                          progress: bool = False) -> list[torch.Tensor]:
    """The base model's next-token log-probs at each example's answer positions (float16, on the CPU)."""
    out = []
    with torch.no_grad():
        for lo in tqdm(range(0, len(examples), batch_size), desc="base answer distributions", disable=not progress,
                       leave=False):
            chosen = examples[lo:lo + batch_size]
            spans = [(e.answer_start, e.answer_stop) for e in chosen]
            batch = L.tree_batch([e.input_ids for e in chosen], None, pad_id, read_from=min(a for a, _ in spans))
            logp = L.span_logprobs(model, batch, L.hidden_states(model, batch), spans).half().cpu()
            out += list(torch.split(logp, [b - a for a, b in spans]))
    return out


def prepare(run: Run, config: FinetuneConfig, *, progress: bool = True) -> tuple[Trainer, dict[str, Any]]:
    """Check the inputs, load the base model, compute targets and put a fresh adapter on it; returns the trainer
    and the adapter manifest's header (base model, probe, targets, run)."""
    from peft import LoraConfig, get_peft_model

    correct = run.records["correct"].to_numpy(dtype=bool)
    if config.objective == "confidence":  # a target over correctness needs both; the answer objective does not
        check_classes(correct, config.min_per_class, f"run {run.path}")
    probe = None
    if config.objective == "confidence" and config.target == "probe":
        probe = resolve_probe(run, config.probe, config.probe_kind)
    p = target_probabilities(run, config.target, probe=probe, constant=config.constant)  # [n]
    model, tokenizer, info = adapters.load_base(run.config["model"], device=config.device, dtype=config.dtype)
    stored = run.manifest.get("model", {}).get("checksum")
    if stored and info["checksum"] != stored:
        raise WorkbenchError(f"run {run.path} was collected with model checksum {stored[:19]}, but "
                             f"{run.config['model']!r} now resolves to {info['checksum'][:19]}; re-collect the run")
    examples = training_examples(run, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    trie = VocabularyTrie.build(tokenizer, run.vocabulary)
    targets = torch.from_numpy(target_distribution(p, run.vocabulary, config.width)).float()
    base_answer = []
    if config.objective == "confidence" and config.answer_kl > 0:
        base_answer = _base_answer_logprobs(model, examples, pad_id, config.batch_size, progress)
    torch.manual_seed(config.seed)  # the adapter's random initialisation
    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha or 2 * config.rank, lora_dropout=0.0, bias="none",
                      target_modules=list(config.target_modules), task_type="CAUSAL_LM")
    try:
        model = get_peft_model(model, lora)
    except ValueError as error:
        raise WorkbenchError(f"cannot put LoRA on modules {list(config.target_modules)} of this model: "
                             f"{error}") from error
    trainer = Trainer(model, tokenizer, config, examples, targets, trie, base_answer, pad_id)
    knowledge = None
    if config.strategy == "knowledge-aware":
        score, ent, norm = ka.familiarity(model, lambda i: trainer.gold_logprobs([i])[:2], len(examples))
        trainer.familiar, trainer.order = score > 0, np.argsort(-score, kind="stable")
        knowledge = {"familiarity": score.round(6).tolist(), "entropy": ent.round(6).tolist(),
                     "gradient_norm": norm.round(6).tolist(), "n_familiar": int((score > 0).sum()),
                     "beta": ka.BETA, "start_share": ka.START_SHARE, "full_at": ka.FULL_AT}
    header = {
        "base": info, "run": {"path": str(run.path.resolve()), "config_hash": run.manifest.get("config_hash"),
                              "n_examples": run.n_examples, "n_correct": int(correct.sum())},
        "probe": probe.meta if probe is not None else None,
        "targets": {"kind": config.target if config.objective == "confidence" else None,
                    "mean": float(p.mean()), "sd": float(p.std()),
                    "auroc_vs_correct": _auroc(p, correct)},
        "train_items": run.records["item_id"].astype(str).tolist(),
        "knowledge_aware": knowledge,
    }
    return trainer, header


def _auroc(p: np.ndarray, correct: np.ndarray) -> float | None:
    from workbench.analyses.calibration import auroc

    return auroc(p, correct) if 0 < correct.sum() < len(correct) and np.ptp(p) > 0 else None


def train(run: Run, config: FinetuneConfig, out: str | Path, *, stop_after: int | None = None,
          progress: bool = True) -> TrainResult:
    """Train (or resume, or return the finished) adapter for ``run`` into ``out``. ``stop_after`` stops once that
    many steps are done (a checkpoint is written there): a kill, simulated."""
    out = check_output_dir(out)
    header_path = out / "finetune.json"
    content = config.content()
    if header_path.exists():
        existing = adapters.read_json(header_path)
        if existing.get("config_hash") != config_hash(content) or existing.get("run", {}).get("config_hash") != \
                run.manifest.get("config_hash"):
            raise WorkbenchError(f"{out} holds a fine-tuning run of another config or training run; choose another "
                                 "output directory or delete that one")
        final = out / adapters.FINAL
        if final.exists():
            return TrainResult(final, adapters.read_manifest(final))
    trainer, header = prepare(run, config, progress=progress)
    manifest = {**provenance(content, header["base"]), **header, "format": adapters.ADAPTER_FORMAT,
                "execution": config.to_dict(), "steps": config.steps, "step": 0, "complete": False, "history": []}
    if not header_path.exists():
        write_json_atomic(header_path, {k: v for k, v in manifest.items() if k not in ("history", "step")})
    optimizer = torch.optim.AdamW([p for p in trainer.model.parameters() if p.requires_grad], lr=config.lr,
                                  weight_decay=config.weight_decay)
    last = adapters.latest_checkpoint(out)
    if last is not None:
        manifest = adapters.restore(last, trainer.model, optimizer)
    step = manifest["step"]
    n = len(trainer.examples)
    stop = config.steps if stop_after is None else min(stop_after, config.steps)
    trainer.model.train()
    with tqdm(total=config.steps, initial=step, desc=f"finetune {config.name}", disable=not progress,
              unit="step") as bar:
        while step < stop:
            index = (batch_indices(n, config.batch_size, config.seed, step) if trainer.order is None else
                     ka.curriculum_indices(trainer.order, config.batch_size, config.seed, step, config.steps))
            optimizer.zero_grad(set_to_none=True)
            total, parts = trainer.loss(index)
            total.backward()
            torch.nn.utils.clip_grad_norm_([p for p in trainer.model.parameters() if p.requires_grad], 1.0)
            optimizer.step()
            step += 1
            manifest["history"].append({"step": step, **parts})
            bar.set_postfix(loss=f"{parts['loss']:.3f}")
            bar.update(1)
            if step % config.checkpoint_every == 0 or step == stop:
                manifest = {**manifest, "step": step}
                adapters.write_checkpoint(out, trainer.model, optimizer, manifest)
    trainer.model.eval()
    if step >= config.steps:
        manifest = {**manifest, "step": step, "complete": True}
        path = adapters.write_final(out, trainer.model, manifest)
        return TrainResult(path, manifest)
    return TrainResult(adapters.latest_checkpoint(out), manifest)
