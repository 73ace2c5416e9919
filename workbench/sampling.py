"""Sampling channels of a stored run: self-consistency, semantic entropy and P(True), stored beside the run.

Opt-in and costly: per example, k sampled answers (about k times collect's answer generation, one prompt
forward shared by the k samples) and one forward for P(True). Seeded per (example, sample), so the numbers
do not depend on batching. Resumable like collect: each finished batch of examples is written atomically to
``RUN/sampling/`` before the next starts; the manifest (config, hash, versions, model checksum) comes last.
The config is ``workbench.configs.SampleConfig``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from workbench.analyses.inputs import require_complete
from workbench.backends import Backend, load_model
from workbench.configs import SampleConfig
from workbench.elicit.sampling import consistency_row, p_true, sample_answers
from workbench.errors import WorkbenchError
from workbench.prompts import PromptTemplate
from workbench.prompts.render import answer_prompt, encode
from workbench.store import Run, config_hash, open_run, provenance, write_json_atomic
from workbench.store.chunks import ChunkStore
from workbench.store.sampled import read_sampling, sampling_dir


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


def sample_channels(run: str | Path | Run, config: SampleConfig | None = None, *, loaded: Backend | None = None,
                    **overrides: Any) -> pd.DataFrame:
    """Sample (or resume sampling) every example of a run; return the table (one row per example).

    ``overrides`` set config fields (``k=10``, ``overwrite=True``, ``progress=False``, ...); ``loaded`` is the
    run's model already loaded (else it is loaded on ``config.device``).

    Columns: example_id, samples, agree, clusters, n_clusters, self_consistency, semantic_entropy_nats,
    semantic_entropy (as a confidence), and with ``p_true``: p_true_raw, p_false_raw, p_true. The channels
    analysis adds ``self_consistency``, ``semantic_entropy`` and ``p_true`` when this table exists.
    """
    config = SampleConfig(**{**(dict(config) if config is not None else {}), **overrides})
    run = run if isinstance(run, Run) else open_run(run)
    require_complete(run, config.allow_incomplete)
    folder = sampling_dir(run.path)
    digest = config_hash({**config.content(), "run": run.manifest.get("config_hash")})
    manifest_path = folder / "manifest.json"
    if manifest_path.exists() and not config.overwrite:
        if json.loads(manifest_path.read_text()).get("digest") == digest:
            return read_sampling(run)
        raise WorkbenchError(f"{folder} already holds sampling channels of another config; pass overwrite=True "
                             "(--overwrite) to replace them")
    chunks = ChunkStore(folder, digest, what="sampling table", overwrite=config.overwrite)
    if loaded is None:
        loaded = load_model(run.config["model"], backend=run.config.get("backend", "transformer_lens"),
                            device=config.device, dtype=run.config.get("dtype", "float32"))
    elif loaded.info.get("checksum") != run.manifest["model"].get("checksum"):
        raise WorkbenchError(f"the loaded model ({loaded.info.get('name')}) is not the run's model "
                             f"({run.model_name}); pass the run's model or none")
    template = PromptTemplate.from_dict(run.manifest["template"])
    max_tokens = config.max_answer_tokens or run.config.get("max_answer_tokens", 24)
    records = run.records
    starts = range(0, len(records), config.batch_size)
    with tqdm(total=len(records), desc=f"sample {run.path.name}", disable=not config.progress, unit="item") as bar:
        for i, start in enumerate(starts):
            batch = records.iloc[start:start + config.batch_size]
            unit = f"batch-{i:05d}"
            if unit not in chunks.done:
                chunks.put(unit, _batch(loaded, batch, config, template, max_tokens))
            bar.update(len(batch))
    write_json_atomic(manifest_path, {**provenance(config.content(), run.manifest.get("model")), "digest": digest,
                                      "run_config_hash": run.manifest.get("config_hash"), "chunks": chunks.done,
                                      "execution": config.to_dict(), "n_examples": len(records), "complete": True})
    return read_sampling(run)
