"""Collect a run: QA items -> prompts -> answers, grading, confidence read-outs, residuals -> run store.

Resumable: items come in a fixed order for a config, and each finished batch is stored before the
next starts, so re-running the same config continues after the last stored batch.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from workbench.backends import Backend, load_model
from workbench.configs import CollectConfig
from workbench.datasets import load_dataset
from workbench.elicit import Elicitor, ElicitSettings, residual_hooks
from workbench.errors import WorkbenchError, WorkbenchWarning
from workbench.layer_selection import READOUT, select_layers
from workbench.prompts import ROLES, get_template, get_vocabulary
from workbench.store import Run, RunWriter, open_run, provenance
from workbench.store.paths import check_output_dir


def collect(config: CollectConfig | None = None, out: str | Path = "runs/default", *, loaded: Backend | None = None,
            progress: bool = True, **overrides: Any) -> Run:
    """Collect (or resume) a run into ``out`` and return it opened; ``overrides`` set config fields, ``loaded`` is
    an already loaded model matching ``config.model`` and ``config.backend``."""
    config = CollectConfig(**{**(config.to_dict() if config else {}), "progress": progress, **overrides})
    check_output_dir(out)
    items = load_dataset(config.dataset, limit=config.limit, seed=config.seed)
    if config.limit is not None and len(items) < config.limit:
        warnings.warn(WorkbenchWarning(f"limit {config.limit} is more than dataset {config.dataset!r} holds: "
                                       f"collecting all {len(items)} items (the run records n_items={len(items)})"),
                      stacklevel=2)
    template, vocabulary = get_template(config.template), get_vocabulary(config.vocabulary)
    if loaded is None:
        backend = load_model(config.model, backend=config.backend, device=config.device, dtype=config.dtype,
                             progress=progress)
    elif loaded.info.get("name") not in (config.model, Path(config.model).name) or loaded.name != config.backend:
        raise WorkbenchError(f"the loaded model is {loaded.info.get('name')!r} on {loaded.name!r} but the config "
                             f"asks for {config.model!r} on {config.backend!r}; pass matching model= and backend=")
    else:
        backend = loaded
    content = config.content()
    readouts = list(select_layers(config.store_readouts, backend.n_layers + 1, READOUT, "this model"))
    roles = [r for r in ROLES if config.store_roles == "all" or r in config.store_roles]
    header = {**provenance(content, backend.info), "execution": config.to_dict(), "roles": roles,
              "stored_readouts": readouts, "layers": residual_hooks(backend.n_layers), "d_model": backend.d_model,
              "dtype": config.store_dtype, "vocabulary": vocabulary.to_dict(), "template": template.to_dict(),
              "n_items": len(items)}
    writer = RunWriter(out, header)
    elicitor = Elicitor(backend, ElicitSettings(template=template, vocabulary=vocabulary,
                                                max_answer_tokens=config.max_answer_tokens, grading=config.grading,
                                                fast=config.fast))
    with tqdm(total=len(items), initial=writer.n_done, desc=f"collect {Path(out).name}", disable=not config.progress,
              unit="item") as bar:
        for start in range(writer.n_done, len(items), config.batch_size):
            batch = items[start:start + config.batch_size]
            records, resid = elicitor.batch(batch)  # resid [n, read-out, role, d_model]: every read-out and role
            writer.append(records, resid[:, readouts][:, :, [ROLES.index(r) for r in roles]])
            bar.update(len(batch))
    run = open_run(out)
    if not run.manifest["complete"]:
        frame = run.records
        verbal = frame["verbal_confidence"].dropna()  # NaN where the confidence text did not parse
        writer.finish(accuracy=float(frame["correct"].mean()), mean_verbal=float(verbal.mean()) if len(verbal) else None)
    return open_run(out)

