"""What each stage of a run costs: the residual store's bytes, and the forward calls of collect and patching.

Token counts come from the plan (``prompt_tokens``, ``max_answer_tokens``) and from measured constants below
(measured on the registry models' stored runs with the default template); the vocabulary trie is sized by
characters (every digit one token, as in the SmolLM2, Qwen and Gemma tokenizers: "1".."9" and "10" continue
longer strings, so percent needs 10 nodes; a tokenizer with whole-number tokens, as Llama 3's, needs fewer).

- **store**: exactly what ``RunWriter`` writes per shard (one shard per collect batch): residuals
  [n, read-outs, roles, d_model] (those ``--store-readouts`` and ``--store-roles`` keep) in ``store_dtype`` as
  safetensors (an 8-byte length, a JSON header padded to 8),
  the records as parquet (a per-file and a per-row size, measured), and the manifest.
- **collect**: per batch, as ``Elicitor.batch`` runs it: the prefix every prompt shares once, the rest of the
  prompts, the gold answers teacher-forced, ``max_answer_tokens`` greedy steps (a bound), the confidence prompt,
  the vocabulary trie, the verbal confidence. Peak memory: weights, the key/value cache, one call's working set.
- **patch**: per sweep (the main one and each control) and role and chunk of ``chunk_pairs`` pairs, as the fast
  path runs it (``analyses.patching.fast``): the clean targets, then every (pair, layer) run from its layer on,
  a pair's runs side by side in rows of ``ROW_COLUMNS`` columns, ``TOKEN_BUDGET`` suffix tokens per step;
  attribution adds a forward and a backward of the targets' suffixes.
- **probe**: Newton logistic regression on the stored residuals, on the CPU (numpy), per role, read-out, seed and
  fold; it reads the store once.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from workbench.analyses.patching.fast import CLEAN_BATCH, ROW_COLUMNS, TOKEN_BUDGET, logit_rows
from workbench.analyses.patching.pairs import MID_PROMPT
from workbench.analyses.probes import LogisticProbe
from workbench.configs import PatchConfig, ProbeConfig
from workbench.configs.plan import PlanConfig
from workbench.elicit.readout import ElicitSettings
from workbench.layer_selection import READOUT, select_layers
from workbench.planning.forwards import DTYPE_BYTES, Forward
from workbench.planning.shape import ModelShape
from workbench.prompts import ROLES, get_vocabulary

QUESTION_TOKENS = 16  # prompt tokens after the prefix all prompts share (question, chat markup): 9-14 measured
ANSWER_TOKENS = 4  # a stored answer (patched runs' answer spans): means 1.6-2.3 measured
GOLD_TOKENS = 6  # a batch's longest gold answer, teacher-forced: 5-6 on the registry tokenizers (at most 9)
AFTER_TOKENS = 5  # answer to confidence slot ("\nConfidence:"): 4-5 measured
RECORDS_FILE_BYTES = 15_200  # a records shard's parquet schema and footer, measured
RECORDS_ROW_BYTES = 125  # a record's bytes besides its 8-byte confidence probabilities, measured
MANIFEST_BYTES = 5_000  # config, provenance, template, vocabulary; plus per shard and per read-out names below
NEWTON_STEPS, INNER_FOLDS = 6, 3  # a logistic probe's Newton steps per C (3-6 measured); inner folds choosing C
CHUNK_PAIRS = PatchConfig.model_fields["chunk_pairs"].default
VERBAL_TOKENS = ElicitSettings.__dataclass_fields__["max_confidence_tokens"].default


@dataclass(frozen=True)
class Lengths:
    """Tokens of one example: ``prompt`` up to the answer, the last ``question`` of them not shared by every prompt,
    ``steps`` greedy answer steps, ``answer`` tokens of a stored answer, ``after`` to the slot, ``nodes`` of the trie,
    ``gold`` of the gold answers teacher-forced, ``verbal`` greedy steps of the spoken confidence."""

    prompt: int
    question: int
    steps: int
    answer: int
    after: int
    nodes: int
    gold: int = GOLD_TOKENS
    verbal: int = VERBAL_TOKENS

    @classmethod
    def of(cls, config: PlanConfig) -> "Lengths":
        strings = get_vocabulary(config.vocabulary).strings
        nodes = len({s[:k] for s in strings for k in range(1, len(s))})
        return cls(prompt=config.prompt_tokens, question=min(QUESTION_TOKENS, config.prompt_tokens - 8),
                   steps=config.max_answer_tokens, answer=min(ANSWER_TOKENS, config.max_answer_tokens),
                   after=AFTER_TOKENS, nodes=nodes)

    @property
    def shared(self) -> int:
        return self.prompt - self.question

    @property
    def stored(self) -> int:
        """Tokens of a stored example, up to its confidence slot."""
        return self.prompt + self.answer + self.after

    def position(self, role: str) -> int:
        """Index of a role's token in a stored example (``mid_prompt``: half-way into the question)."""
        return {"pre_answer": self.prompt - 1, "answer_last": self.prompt + self.answer - 1,
                "post_answer": self.prompt + self.answer, "confidence_slot": self.stored - 1,
                MID_PROMPT: self.prompt - self.question // 2}[role]


@dataclass(frozen=True)
class StageCost:
    """FLOPs, bytes moved and accelerator memory at the peak (weights included; None: the stage runs on the CPU)."""

    flops: float
    traffic: float
    peak: float | None
    forwards: tuple[Forward, ...] = ()


def stored(shape: ModelShape, config: PlanConfig) -> tuple[int, int]:
    """Read-outs and roles the store keeps (collect's ``--store-readouts``, ``--store-roles``)."""
    readouts = len(select_layers(config.store_readouts, shape.layers + 1, READOUT, "this model"))
    return readouts, len(ROLES) if config.store_roles == "all" else len(config.store_roles)


def store_bytes(shape: ModelShape, config: PlanConfig) -> dict[str, int]:
    """Bytes on disk of the run store: ``residuals`` (exact), ``records`` and ``manifest`` (measured sizes)."""
    readouts, roles = stored(shape, config)
    per_item = readouts * roles * shape.d_model * DTYPE_BYTES[config.store_dtype]
    sizes = [config.batch_size] * (config.items // config.batch_size) + [config.items % config.batch_size]
    sizes = [n for n in sizes if n]
    dtype = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}[config.store_dtype]
    residuals = 0
    for n in sizes:  # safetensors: 8-byte header length, JSON header padded to 8 bytes, the data
        header = json.dumps({"resid": {"dtype": dtype, "shape": [n, readouts, roles, shape.d_model],
                                       "data_offsets": [0, n * per_item]}}, separators=(",", ":"))
        residuals += 8 + math.ceil(len(header) / 8) * 8 + n * per_item
    strings = len(get_vocabulary(config.vocabulary).strings)
    records = len(sizes) * RECORDS_FILE_BYTES + config.items * (RECORDS_ROW_BYTES + 8 * strings)
    manifest = MANIFEST_BYTES + 60 * len(sizes) + 30 * readouts + 10 * strings
    return {"residuals": residuals, "records": records, "manifest": manifest}


def _sum(shape: ModelShape, dtype: str, forwards: list[Forward]) -> tuple[float, float]:
    return sum(f.flops(shape) for f in forwards), sum(f.traffic(shape, dtype) for f in forwards)


def collect_batch(n: Lengths, rows: int) -> list[Forward]:
    """The forward calls of one collect batch of ``rows`` prompts (``Elicitor.batch``, answer in place)."""
    p, a, c = n.prompt, n.steps, n.after
    return [
        Forward("shared prefix", 1, n.shared, (n.shared + 1) / 2, 1, cached=n.shared),
        Forward("prompts", rows, n.question, n.shared + (n.question + 1) / 2, 1, cached=p),
        Forward("gold answers", rows, n.gold, p + (n.gold + 1) / 2, n.gold, cached=p + n.gold, logit_copies=1),
        Forward("answer steps", rows, 1, p + (a + 1) / 2, 1, calls=a, cached=p + a),
        Forward("confidence prompt", rows, c, p + a + (c + 1) / 2, 1, cached=p + a + c),
        Forward("vocabulary trie", rows, n.nodes, p + a + c + 1.5, n.nodes, cached=p + a + c + n.nodes),
        Forward("verbal confidence", rows, 1, p + a + c + (n.verbal + 1) / 2, 1, calls=n.verbal,
                cached=p + a + c + n.verbal),
    ]


def collect_cost(shape: ModelShape, config: PlanConfig) -> StageCost:
    n, dtype = Lengths.of(config), config.dtype
    full, rest = divmod(config.items, config.batch_size)
    batches = [(config.batch_size, full)] + ([(rest, 1)] if rest else [])
    forwards = [f.repeated(times) for rows, times in batches if times for f in collect_batch(n, rows)]
    flops, traffic = _sum(shape, dtype, forwards)
    size = DTYPE_BYTES[dtype]
    at_peak = max(f.rows * f.cached * shape.layers * shape.kv_width * size + f.held(shape, dtype)
                  for f in collect_batch(n, min(config.batch_size, config.items)))
    return StageCost(flops, traffic, shape.parameters * size + at_peak, tuple(forwards))


def _patch_role(shape: ModelShape, config: PlanConfig, n: Lengths, role: str, pairs: int,
                layers: list[int], attribution: bool) -> tuple[list[Forward], float]:
    """The forward calls of one role of one sweep, chunk by chunk, and the peak memory besides the weights."""
    size = DTYPE_BYTES[config.dtype]
    chunk = logit_rows(shape.d_vocab, config.device == "cpu")
    position = n.position(role)
    width, prefix = n.stored - position, position
    cols = width + n.nodes
    shared = min(n.shared, position)
    answer_rows = max(0, min(n.prompt + n.answer, n.stored) - max(position, n.prompt - 1))  # spans a patch can change
    blocks = sum(shape.layers - layer for layer in layers) / len(layers)
    forwards, peak = [], 0.0
    for lo in range(0, pairs, CHUNK_PAIRS):
        targets = min(CHUNK_PAIRS, pairs - lo)
        rest, group = n.stored - shared + n.nodes, min(CLEAN_BATCH, targets)
        clean = [Forward("clean: shared prefix", 1, shared, (shared + 1) / 2, 0),
                 Forward("clean: targets", group, rest, shared + rest / 2, n.nodes + 1 + n.answer,
                         calls=targets / group,
                         logit_chunk=max(_vocab_rows(targets, n.nodes, chunk), group * n.answer))]
        runs = targets * len(layers)
        per_row = min(len(layers), max(1, ROW_COLUMNS // cols))  # a pair's runs side by side in one batch row
        per_step = min(targets, max(1, TOKEN_BUDGET // (per_row * cols))) * per_row
        steps = math.ceil(runs / per_step)
        keys = prefix + per_row * cols / 2  # a row's prefix, then its runs (masked from each other, still scored)
        at_once = max(_vocab_rows(per_step, n.nodes, chunk), min(per_step * answer_rows, chunk))
        step = Forward("patch runs", runs / steps, cols, keys, 1 + n.nodes + answer_rows, calls=steps, blocks=blocks,
                       logit_chunk=at_once)
        forwards += [*clean, step]
        cache = ((shape.layers + 1) * targets * cols * shape.d_model + shape.layers * targets * prefix * shape.kv_width)
        gathered = (per_step * cols * shape.d_model  # start states, and one block's prefix keys and values a row
                    + per_step / per_row * (2 * prefix + per_row * cols) * shape.kv_width / 2)
        held = [clean[1].held(shape, config.dtype), gathered * size + step.held(shape, config.dtype)]
        if attribution:
            # a run a row; its slot's and nodes' log-probs at once, and in the backward their gradient and the
            # logits' gradient beside them (one more copy: float32 log-probs, logits and gradients)
            grad = Forward("attribution", targets, cols, prefix + cols / 2, 1 + n.nodes, calls=3, logit_copies=1)
            forwards += [*clean, grad]
            held.append(grad.saved(shape, config.dtype) + grad.held(shape, config.dtype))
        peak = max(peak, cache * size + max(held))
    return forwards, peak


def _vocab_rows(runs: int, nodes: int, chunk: int) -> int:
    """Positions unembedded at once to score the vocabulary of ``runs`` runs (``fast.vocab_probs``'s chunks)."""
    return min(runs, max(1, chunk // (1 + nodes))) * (1 + nodes)


def patch_cost(shape: ModelShape, config: PlanConfig) -> StageCost:
    n = Lengths.of(config)
    layers = list(select_layers(config.blocks, shape.layers))
    pairs = config.n_pairs or config.items
    sweeps = [("sweep", config.roles)] + [(c, (MID_PROMPT,) if c == "off_position" else config.roles)
                                        for c in config.controls]
    forwards, peak = [], 0.0
    for name, roles in sweeps:
        for role in roles:
            more, held = _patch_role(shape, config, n, role, pairs, layers, config.attribution and name == "sweep")
            forwards += more
            peak = max(peak, held)
    flops, traffic = _sum(shape, config.dtype, forwards)
    return StageCost(flops, traffic, shape.parameters * DTYPE_BYTES[config.dtype] + peak, tuple(forwards))


def probe_cost(shape: ModelShape, config: PlanConfig) -> StageCost:
    """Newton logistic probes (``analyses.probes``) at ``ProbeConfig``'s defaults; diff-means probes cost nothing."""
    fields = ProbeConfig.model_fields
    readouts, _ = stored(shape, config)
    roles = sum(config.store_roles == "all" or r in config.store_roles for r in fields["roles"].default)
    seeds, folds = fields["seeds"].default, 5
    cs = len(LogisticProbe().Cs)
    train = config.items * (folds - 1) / folds
    rank = min(train, shape.d_model)
    gram = 2 * train * rank * max(train, shape.d_model)  # X X^T (or X itself when n > d) and its factors
    newton = NEWTON_STEPS * (2 * train * rank**2 + rank**3 / 3)  # Hessians and solves, per C
    per_fold = INNER_FOLDS * (gram + cs * newton) + gram + newton  # inner folds choose C over the grid, then one fit
    flops = roles * readouts * seeds * folds * per_fold
    traffic = config.items * readouts * roles * shape.d_model * DTYPE_BYTES[config.store_dtype]
    return StageCost(flops, traffic, None)
