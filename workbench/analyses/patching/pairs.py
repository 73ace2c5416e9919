"""(source, target) pairs for patching, matched by position role, seeded, each traceable to its two examples.

Within one model: ``correct-to-incorrect`` restores a correct run's state into an incorrect run,
``incorrect-to-correct`` the reverse, ``random`` pairs any two distinct examples (the baseline).
Across models: ``cross-model`` pairs the same item in a fine-tuned run (source) and a base run (target).

Small models are mostly wrong, so a class may hold few examples: a side with fewer examples than pairs is
drawn with replacement (every example at least once), and ``PairSet.sampling`` says so. An empty class is
an error that names the fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError, did_you_mean
from workbench.store import Run
from workbench.token_tree import common_prefix

MID_PROMPT = "mid_prompt"  # the off-position control's role: a token half-way into the question


@dataclass(frozen=True, eq=False)
class PairSet:
    """Pairs of a source example (``source`` run) and a target example (``target`` run).

    ``table`` has one row per pair: pair_id, source_id, target_id (example ids in their runs), source_item,
    target_item. ``sampling`` records the pools and whether each side was drawn with replacement.
    """

    kind: str
    source: Run
    target: Run
    table: pd.DataFrame
    seed: int
    sampling: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.table)

    @property
    def cross_model(self) -> bool:
        return self.source.path.resolve() != self.target.path.resolve()

    @property
    def note(self) -> str:
        """One line on how the pairs were drawn."""
        s = self.sampling
        parts = [f"{len(self)} {self.kind} pairs (seed {self.seed}) from {s.get('source_pool', '?')} source and "
                 f"{s.get('target_pool', '?')} target examples"]
        for side in ("source", "target"):
            if s.get(f"{side}_replacement"):
                parts.append(f"{side}s drawn with replacement ({s[f'{side}_pool']} examples for {len(self)} pairs)")
        return "; ".join(parts)

    def reversed(self) -> "PairSet":
        """The same pairs in the other direction (target state into the source run)."""
        table = self.table.rename(columns={"source_id": "target_id", "target_id": "source_id",
                                           "source_item": "target_item", "target_item": "source_item"})
        sampling = {**self.sampling, "source_pool": self.sampling.get("target_pool"),
                    "target_pool": self.sampling.get("source_pool"),
                    "source_replacement": self.sampling.get("target_replacement"),
                    "target_replacement": self.sampling.get("source_replacement")}
        return replace(self, kind=f"reverse of {self.kind}", source=self.target, target=self.source,
                       table=table[list(self.table.columns)], sampling=sampling)

    def subset(self, rows: slice | np.ndarray) -> "PairSet":
        """Some of the pairs (their pair ids are kept)."""
        return replace(self, table=self.table.iloc[rows].reset_index(drop=True))

    def positions(self, role: str) -> tuple[np.ndarray, np.ndarray]:
        """Token positions of ``role`` in each pair's source and target sequences."""
        return (role_positions(self.source, self.table["source_id"].to_numpy(), role, "source"),
                role_positions(self.target, self.table["target_id"].to_numpy(), role, "target"))

    def describe(self) -> pd.DataFrame:
        """The pairs with both examples' questions, answers, correctness and confidences (for tables and hover)."""
        cols = ["question", "gold", "answer", "correct", "softmax_expected", "verbal_confidence"]
        src = self.source.records.set_index("example_id").loc[self.table["source_id"], cols]
        tgt = self.target.records.set_index("example_id").loc[self.table["target_id"], cols]
        return pd.concat([self.table.reset_index(drop=True), src.add_prefix("source_").reset_index(drop=True),
                          tgt.add_prefix("target_").reset_index(drop=True)], axis=1)


def role_positions(run: Run, example_ids: np.ndarray, role: str, side: str = "") -> np.ndarray:
    """Position of ``role`` in each example's input_ids, with one clear error for a role the run lacks."""
    records = run.records.set_index("example_id")
    known = [*run.roles, MID_PROMPT]
    if role not in known:
        raise WorkbenchError(f"role {role!r} is missing in the {side} run {run.path} (its roles: "
                             f"{', '.join(known)}).{did_you_mean(role, known)}")
    missing = [e for e in example_ids if e not in records.index]
    if missing:
        raise WorkbenchError(f"examples {missing[:5]} are not in the {side} run {run.path}")
    rows = records.loc[example_ids]
    if role == MID_PROMPT:  # half-way between the shared template prefix and the last prompt token
        positions = (common_prefix(run.records["input_ids"].tolist()) + rows["pos_pre_answer"].to_numpy()) // 2
    elif f"pos_{role}" not in rows.columns:
        raise WorkbenchError(f"role {role!r} is missing in the {side} run {run.path}: no pos_{role} column")
    else:
        positions = rows[f"pos_{role}"].to_numpy()
    lengths = rows["input_ids"].map(len).to_numpy()
    bad = np.isnan(positions.astype(float)) | (positions < 0) | (positions >= lengths)
    if bad.any():
        raise WorkbenchError(f"role {role!r} is missing in the {side} run for examples "
                             f"{list(rows.index[bad])[:5]} (no valid position)")
    return positions.astype(int)


def _draw(rng: np.random.Generator, pool: np.ndarray, n: int) -> tuple[np.ndarray, bool]:
    """n ids from pool: without replacement when the pool suffices, else every id once plus random repeats."""
    if n <= len(pool):
        return rng.choice(pool, size=n, replace=False), False
    drawn = np.concatenate([pool, rng.choice(pool, size=n - len(pool), replace=True)])
    return rng.permutation(drawn), True


def _pairs(kind: str, source: Run, target: Run, src_pool: np.ndarray, tgt_pool: np.ndarray,
           n_pairs: int | None, seed: int) -> PairSet:
    rng = np.random.default_rng(seed)
    n = len(tgt_pool) if n_pairs is None else n_pairs
    if n < 1:
        raise WorkbenchError(f"n_pairs must be at least 1, got {n}")
    targets, t_rep = _draw(rng, tgt_pool, n)
    sources, s_rep = _draw(rng, src_pool, n)
    items = {side: run.records.set_index("example_id")["item_id"] for side, run in (("s", source), ("t", target))}
    table = pd.DataFrame({"pair_id": np.arange(n), "source_id": sources.astype(int), "target_id": targets.astype(int),
                          "source_item": items["s"].loc[sources].to_numpy(),
                          "target_item": items["t"].loc[targets].to_numpy()})
    sampling = {"source_pool": int(len(src_pool)), "target_pool": int(len(tgt_pool)),
                "source_replacement": bool(s_rep), "target_replacement": bool(t_rep)}
    return PairSet(kind=kind, source=source, target=target, table=table, seed=seed, sampling=sampling)


def _class(run: Run, correct: bool, kind: str) -> np.ndarray:
    frame = run.records
    pool = frame.loc[frame["correct"] == correct, "example_id"].to_numpy()
    if len(pool) == 0:
        name = "correct" if correct else "incorrect"
        raise WorkbenchError(
            f"{kind} pairs need at least one {name} example, but run {run.path} has none "
            f"({int(frame['correct'].sum())} of {len(frame)} correct). Collect more items (--limit) or use "
            "--pairs random")
    return pool


def correct_to_incorrect(run: Run, *, n_pairs: int | None = None, seed: int = 0) -> PairSet:
    """Correct sources into incorrect targets; by default one pair per incorrect example."""
    kind = "correct-to-incorrect"
    return _pairs(kind, run, run, _class(run, True, kind), _class(run, False, kind), n_pairs, seed)


def incorrect_to_correct(run: Run, *, n_pairs: int | None = None, seed: int = 0) -> PairSet:
    """Incorrect sources into correct targets; by default one pair per correct example."""
    kind = "incorrect-to-correct"
    return _pairs(kind, run, run, _class(run, False, kind), _class(run, True, kind), n_pairs, seed)


def random_pairs(run: Run, *, n_pairs: int | None = None, seed: int = 0) -> PairSet:
    """Any two distinct examples (the random-pair baseline); by default one pair per example."""
    ids = run.records["example_id"].to_numpy()
    if len(ids) < 2:
        raise WorkbenchError(f"random pairs need at least two examples; run {run.path} has {len(ids)}")
    pairs = _pairs("random", run, run, ids, ids, n_pairs, seed)
    rng = np.random.default_rng([seed, 1])
    table = pairs.table.copy()
    for i in np.nonzero(table["source_id"].to_numpy() == table["target_id"].to_numpy())[0]:
        table.loc[i, "source_id"] = rng.choice(ids[ids != table.loc[i, "target_id"]])
    items = run.records.set_index("example_id")["item_id"]
    table["source_item"] = items.loc[table["source_id"]].to_numpy()
    return replace(pairs, table=table)


def check_runs_compatible(source: Run, target: Run) -> None:
    """Cross-model runs must share the residual layout, roles, vocabulary, template and tokenizer."""
    problems = []
    for key in ("layers", "d_model", "roles", "vocabulary", "template"):
        if source.manifest.get(key) != target.manifest.get(key):
            problems.append(f"{key} differ ({_short(source.manifest.get(key))} vs {_short(target.manifest.get(key))})")
    if problems:
        raise WorkbenchError(f"cross-model pairs need runs of the same architecture and prompts: "
                             f"{source.path} and {target.path}: {'; '.join(problems)}")
    s = source.records.set_index("item_id")
    t = target.records.set_index("item_id")
    shared = s.index.intersection(t.index)
    for item in shared[:20]:
        a, b = s.loc[item], t.loc[item]
        if list(a["input_ids"][:a["pos_pre_answer"] + 1]) != list(b["input_ids"][:b["pos_pre_answer"] + 1]):
            raise WorkbenchError(f"cross-model runs tokenize the same prompt differently (item {item!r}): the two "
                                 "models' tokenizers differ; patching needs the same tokenizer")


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) < 40 else text[:37] + "..."


def cross_model_pairs(source_run: Run, target_run: Run, *, n_pairs: int | None = None, seed: int = 0) -> PairSet:
    """The same item in a fine-tuned run (source) and a base run (target); by default every shared item."""
    check_runs_compatible(source_run, target_run)
    s = source_run.records.drop_duplicates("item_id").set_index("item_id")["example_id"]
    t = target_run.records.drop_duplicates("item_id").set_index("item_id")["example_id"]
    shared = np.array(sorted(s.index.intersection(t.index)))
    if len(shared) == 0:
        raise WorkbenchError(f"runs {source_run.path} and {target_run.path} share no items: collect both on the "
                             "same dataset, limit and seed")
    rng = np.random.default_rng(seed)
    items, replaced = _draw(rng, shared, len(shared) if n_pairs is None else n_pairs)
    table = pd.DataFrame({"pair_id": np.arange(len(items)), "source_id": s.loc[items].to_numpy(),
                          "target_id": t.loc[items].to_numpy(), "source_item": items, "target_item": items})
    sampling = {"source_pool": int(len(shared)), "target_pool": int(len(shared)),
                "source_replacement": bool(replaced), "target_replacement": bool(replaced)}
    return PairSet(kind="cross-model", source=source_run, target=target_run, table=table, seed=seed,
                   sampling=sampling)


PAIR_KINDS: dict[str, Callable[..., PairSet]] = {
    "correct-to-incorrect": correct_to_incorrect,
    "incorrect-to-correct": incorrect_to_correct,
    "random": random_pairs,
}


def build_pairs(run: Run, kind: str, *, n_pairs: int | None = None, seed: int = 0,
                source_run: Run | None = None) -> PairSet:
    """Pairs of a registered kind; ``cross-model`` takes the fine-tuned run as ``source_run``."""
    if kind == "cross-model":
        if source_run is None:
            raise WorkbenchError("cross-model pairs need the fine-tuned model's run as the source run")
        return cross_model_pairs(source_run, run, n_pairs=n_pairs, seed=seed)
    if kind not in PAIR_KINDS:
        known = [*PAIR_KINDS, "cross-model"]
        raise WorkbenchError(f"unknown pair kind {kind!r}.{did_you_mean(kind, known)} Choose one of {', '.join(known)}")
    return PAIR_KINDS[kind](run, n_pairs=n_pairs, seed=seed)
