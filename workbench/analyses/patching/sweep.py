"""``patch_sweep``: patch every pair at every layer and role, one site, and tabulate the effects.

One row per (pair, layer, role): the two examples it came from, the patched, target and source expected
confidence, every metric of ``metrics``, the chosen one again as ``effect``, whether the greedy answer and
the spoken (argmax) confidence were left unchanged, and the patched vocabulary distribution itself.
The target's unpatched distribution is recomputed by the same path as the patched one (a no-op patch
shifts nothing); the source's is the source run's stored read-out (the source model's own, for
cross-model pairs).
The exact fast path runs where the architecture allows; elsewhere the reference path runs, and the table
says which (``method``) and why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from workbench.analyses.patching import fast, reference
from workbench.analyses.patching.job import PATCH_SITES, PatchJob, PatchOutcome
from workbench.analyses.patching.metrics import MetricSpec, compute
from workbench.analyses.patching.pairs import PairSet, role_positions
from workbench.analyses.patching.sources import from_store, source_activations
from workbench.architectures import architecture
from workbench.backends.base import Backend
from workbench.elicit.scoring import VocabularyTrie
from workbench.errors import WorkbenchError, did_you_mean
from workbench.layer_selection import select_layers
from workbench.store import Run

METHODS = ("auto", "fast", "reference")


def check_site(site: str) -> str:
    if site not in PATCH_SITES:
        raise WorkbenchError(f"unknown patch site {site!r}.{did_you_mean(site, PATCH_SITES)} "
                             f"Choose one of {', '.join(PATCH_SITES)}")
    return site


def check_model(run: Run, backend: Backend, side: str = "target") -> None:
    """The run must have been collected with this model (same weights checksum)."""
    stored, loaded = run.manifest.get("model", {}).get("checksum"), backend.info.get("checksum")
    if stored and loaded and stored != loaded:
        raise WorkbenchError(f"the {side} run {run.path} was collected with model {run.model_name!r} ({stored[:19]}) "
                             f"but the {side} model given is {backend.info.get('name')!r} ({loaded[:19]})")


def check_same_architecture(source: Backend, target: Backend) -> None:
    """Cross-model patching needs identical shapes and tokenizers; one error lists every difference."""
    def shape(b: Backend) -> dict:
        config = b.hf_model.config.get_text_config()
        return {"architecture": b.architecture, "n_layers": b.n_layers, "d_model": b.d_model,
                "n_heads": config.num_attention_heads,
                "n_kv_heads": getattr(config, "num_key_value_heads", config.num_attention_heads),
                "vocab_size": config.vocab_size}
    s, t = shape(source), shape(target)
    problems = [f"{k} {s[k]} vs {t[k]}" for k in s if s[k] != t[k]]
    if not problems and source.tokenizer.get_vocab() != target.tokenizer.get_vocab():
        problems.append("tokenizer vocabularies differ")
    if problems:
        raise WorkbenchError(f"cross-model patching needs two models of the same architecture and tokenizer: "
                             f"{source.info.get('name')!r} vs {target.info.get('name')!r}: {'; '.join(problems)}")


def choose_method(backend: Backend, method: str) -> tuple[str, str]:
    """(method to run, a note): ``auto`` is the fast path. Both paths score the vocabulary through the
    architecture table, so a model without a row gets the table's one error naming the row to add, and where."""
    if method not in METHODS:
        raise WorkbenchError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    architecture(backend.architecture)
    return ("fast" if method == "auto" else method), ""


def make_job(pairs: PairSet, site: str, layers: tuple[int, ...], role: str, values, trie: VocabularyTrie,
             read: str = "confidence_slot") -> PatchJob:
    """The job of one role: each distinct target once, cut after its ``read`` position (where the confidence
    is read), its patched position and its answer span (the part of it inside the cut sequence)."""
    _, target_pos = pairs.positions(role)
    target_ids = pairs.table["target_id"].to_numpy()
    unique, first, inverse = np.unique(target_ids, return_index=True, return_inverse=True)
    records = pairs.target.records.set_index("example_id").loc[unique]
    ends = role_positions(pairs.target, unique, read, "target") + 1  # [n_targets] tokens up to the read position
    too_late = target_pos[first] >= ends
    if too_late.any():
        raise WorkbenchError(f"role {role!r} lies after the read position {read!r} in {int(too_late.sum())} target(s): "
                             "a patch there cannot reach the read-out; read at a later role")
    return PatchJob(site=site, layers=layers,
                    targets=tuple(tuple(int(x) for x in ids[:end]) for ids, end in zip(records["input_ids"], ends)),
                    positions=tuple(int(p) for p in target_pos[first]),
                    answer_spans=tuple((min(int(a), int(end)), min(int(b), int(end))) for a, b, end
                                       in zip(records["pos_pre_answer"], records["pos_answer_last"], ends)),
                    target_of_pair=tuple(int(i) for i in inverse), values=values, trie=trie)


def source_readout(pairs: PairSet, read: str, backend: Backend | None, vocabulary) -> np.ndarray:
    """[n_pairs, V] each pair's source read-out at ``read``: the source run's stored one at ``confidence_slot``,
    else one exact forward of each distinct source cut after its ``read`` position (``backend`` is the source's
    model)."""
    from workbench.elicit.confidence import confidence_of

    records = pairs.source.records.set_index("example_id")
    source_ids = pairs.table["source_id"].to_numpy()
    if read == "confidence_slot":
        return np.stack(records.loc[source_ids, "confidence_probs"].to_numpy())
    if backend is None:
        raise WorkbenchError(f"cross-model pairs read at {read!r} need the source model (its read-out there is "
                             "not stored): pass source_model")
    unique, inverse = np.unique(source_ids, return_inverse=True)
    ends = role_positions(pairs.source, unique, read, "source") + 1
    probs = [confidence_of(backend, [list(records.loc[e, "input_ids"][:end])], vocabulary=vocabulary).probs[0]
             for e, end in zip(unique, ends)]
    return np.stack(probs)[inverse]


def run_job(backend: Backend, job: PatchJob, method: str,
            progress: Callable[[int], None] | None = None) -> PatchOutcome:
    return (fast.run_fast if method == "fast" else reference.run_reference)(backend, job, progress=progress)


def patch_sweep(model: Backend, pairs: PairSet, site: str = "resid_pre", blocks: str | int | Iterable[int] = "all",
                roles: Sequence[str] = ("confidence_slot",), metric: str | MetricSpec = "shift", *,
                levels: tuple[str, str] | None = None, method: str = "auto", source_model: Backend | None = None,
                read: str = "confidence_slot", progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Effects of patching each pair's source activation into its target, per block and role, at one site.

    ``model`` runs the targets; ``source_model`` the sources of cross-model pairs when their activations are
    not in the source run's store (defaults to ``model`` for pairs within one run). ``read``: the role whose
    next-token distribution is the confidence read-out (the target is cut after it; the seed study reads at
    ``pre_answer``); the patched role must not lie after it. The source's read-out is its stored one, which is
    at ``confidence_slot``. ``progress`` is called with the number of (pair, layer) runs finished.
    """
    site = check_site(site)
    chosen = select_layers(blocks, model.n_layers)
    if isinstance(roles, str):
        roles = (roles,)
    check_model(pairs.target, model)
    if pairs.cross_model and source_model is not None:
        check_same_architecture(source_model, model)
        check_model(pairs.source, source_model, "source")
    elif pairs.cross_model and pairs.source.d_model != model.d_model:
        raise WorkbenchError(f"source run d_model {pairs.source.d_model} differs from the model's {model.d_model}")
    vocabulary = pairs.target.vocabulary
    spec = MetricSpec.resolve(metric, vocabulary, levels)
    run_method, note = choose_method(model, method)
    trie = VocabularyTrie.build(model.tokenizer, vocabulary)
    source_backend = source_model if pairs.cross_model else model
    source_probs = source_readout(pairs, read, source_backend, vocabulary)  # [n_pairs, V]
    for role in roles:  # every input problem fails here, before any forward pass
        pairs.positions(role)
        if pairs.cross_model and source_model is None and not from_store(pairs, site, chosen, role):
            raise WorkbenchError(f"cross-model pairs at site {site!r} and role {role!r} need the source model: its "
                                 "activations there are not in the source run's store")
    frames = []
    for role in roles:
        values, origin = source_activations(pairs, site, chosen, role, source_model or model)
        job = make_job(pairs, site, chosen, role, values, trie, read)
        outcome = run_job(model, job, run_method, progress)
        target_probs = outcome.clean[list(job.target_of_pair)]  # [n_pairs, V]
        stats = compute(outcome.patched, target_probs[:, None], source_probs[:, None], vocabulary, spec)
        n_layers = len(chosen)
        frame = pd.DataFrame({
            "pair_id": np.repeat(pairs.table["pair_id"].to_numpy(), n_layers),
            "source_id": np.repeat(pairs.table["source_id"].to_numpy(), n_layers),
            "target_id": np.repeat(pairs.table["target_id"].to_numpy(), n_layers),
            "source_item": np.repeat(pairs.table["source_item"].to_numpy(), n_layers),
            "target_item": np.repeat(pairs.table["target_item"].to_numpy(), n_layers),
            "layer": np.tile(np.asarray(chosen), len(pairs)), "role": role, "site": site, "read": read,
            **{k: np.asarray(v).reshape(-1) for k, v in stats.items()},
            "answer_unchanged": outcome.answer_unchanged.reshape(-1),
            "method": outcome.method, "source_from": origin,
        })
        frame["patched_probs"] = list(outcome.patched.reshape(-1, outcome.patched.shape[-1]))
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table.attrs.update(metric=spec.to_dict(), pairs=pairs.note, kind=pairs.kind, fallback=note)
    return table
