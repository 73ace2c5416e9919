"""Sampling channels of a stored run: self-consistency, semantic entropy and P(True), stored beside the run.

Opt-in and costly: per example, k sampled answers (about k times collect's answer generation) and one forward for
P(True), seeded per (example, sample) so batching does not matter. Resumable like collect: each finished batch is
written atomically to ``RUN/results/sampling/<key>/partial/`` before the next starts; the result comes last.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from workbench.analyses.inputs import require_complete, run_model
from workbench.backends import Backend
from workbench.configs import SampleConfig
from workbench.elicit.sampling import consistency_row, p_true, sample_answers
from workbench.errors import WorkbenchError
from workbench.prompts import PromptTemplate
from workbench.prompts.render import answer_prompt, encode
from workbench.store import Run, config_hash, open_run
from workbench.store.chunks import ChunkStore
from workbench.store.results import Result, result_slot
from workbench.store.sampled import ANALYSIS, TABLE


def _batch(backend: Backend, records: pd.DataFrame, config: SampleConfig, template: PromptTemplate,
           max_tokens: int) -> pd.DataFrame:
    tok = backend.tokenizer
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    special = set(tok.all_special_ids)
    prompts = [encode(tok, answer_prompt(tok, template, q)) for q in records["question"]]
    samples = sample_answers(backend, prompts, records["example_id"].tolist(), k=config.k,
                             temperature=config.temperature, seed=config.seed, max_tokens=max_tokens, pad_id=pad_id,
                             is_stop=lambda t: t in special or "\n" in tok.decode([t]))
    rows = [{"example_id": int(e), **consistency_row(greedy, s)}
            for e, greedy, s in zip(records["example_id"], records["answer"], samples)]
    frame = pd.DataFrame(rows)
    if config.p_true:
        probs = p_true(backend, records["question"].tolist(), records["answer"].tolist(), pad_id)  # [batch, 2]
        frame["p_true_raw"], frame["p_false_raw"] = probs[:, 0], probs[:, 1]
        mass = probs.sum(1)
        frame["p_true"] = np.where(mass > 0, probs[:, 0] / np.where(mass > 0, mass, 1.0), 0.5)
    return frame


def sample_channels(run: str | Path | Run, config: SampleConfig | None = None, model: Backend | None = None,
                    **overrides: Any) -> Result:
    """Sample (or resume sampling) every example of a run and return the stored ``sampling`` result; ``overrides``
    set config fields, ``model`` is the run's model already loaded. A config already stored on this run is returned
    as it is (``overwrite=True`` recomputes it); another config gets its own keyed folder.

    Its table ``samples`` (one row per example): example_id, samples, agree, clusters, n_clusters,
    self_consistency, semantic_entropy_nats, semantic_entropy (as a confidence), and with ``p_true``:
    p_true_raw, p_false_raw, p_true."""
    config = SampleConfig(**{**(dict(config) if config is not None else {}), **overrides})
    run = run if isinstance(run, Run) else open_run(run)
    require_complete(run, config.allow_incomplete)
    slot = result_slot(run.path, ANALYSIS, config.content(), run.manifest, overwrite=config.overwrite)
    if slot.existing is not None:  # this config on this run is stored: returned, never replaced unasked
        return slot.existing
    digest = config_hash({**config.content(), "run": run.manifest.get("config_hash")})
    chunks = ChunkStore(slot.path / "partial", digest, what="sampling table")
    if model is None:
        model = run_model(run, config, dtype=run.config.get("dtype", "float32"))
    elif model.info.get("checksum") != run.manifest["model"].get("checksum"):
        raise WorkbenchError(f"the loaded model ({model.info.get('name')}) is not the run's model "
                             f"({run.model_name}); pass the run's model or none")
    template = PromptTemplate.from_dict(run.manifest["template"])
    max_tokens = config.max_answer_tokens or run.config.get("max_answer_tokens", 24)
    records = run.records
    done = {int(e) for frame in chunks.frames() for e in frame["example_id"]}  # resumed: any batch size
    todo = records[~records["example_id"].isin(done)]
    with tqdm(total=len(records), initial=len(records) - len(todo), desc=f"sample {run.path.name}",
              disable=not config.progress, unit="item") as bar:
        for start in range(0, len(todo), config.batch_size):
            batch = todo.iloc[start:start + config.batch_size]
            chunks.put(f"batch-{len(chunks.done):05d}", _batch(model, batch, config, template, max_tokens))
            bar.update(len(batch))
    table = pd.concat(chunks.frames(), ignore_index=True).sort_values("example_id", ignore_index=True)
    result = slot.write({TABLE: table}, digest=digest, execution=config.to_dict(), n_examples=len(records),
                        max_answer_tokens_used=max_tokens)
    chunks.remove()
    return result
