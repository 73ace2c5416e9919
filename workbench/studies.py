"""The verbs that run the other verbs: ``wb.sweep`` (models x datasets x seeds x stages) and ``wb.replicate`` (the
seed study's claims across a ladder of models). Like ``workbench.api``'s, each takes its config's fields as
keyword arguments, and its signature lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workbench.api import _config, _signature
from workbench.configs.replicate import ReplicateConfig
from workbench.sweeps.config import SweepConfig


def sweep(config: Any, out: str | Path | None = None, *, loaded: Mapping[str, Any] | None = None,
          task_options: Mapping[str, Any] | None = None, **fields: Any):
    """Run a sweep (a ``SweepConfig``, a file, or its parsed dict) into ``out`` (default ``sweeps/<file name>``);
    ``fields`` override its execution keys (``executor``, ``workers``, ``address``, ``progress``). Returns the
    summary table (one row per unit)."""
    from workbench.sweeps import run_sweep

    config, out = load_sweep(config, out)
    config = config.replace(**fields) if fields else config
    return run_sweep(config, out, executor=config.executor, workers=config.workers, address=config.address,
                     progress=config.progress, loaded=loaded, task_options=task_options)


def load_sweep(config: Any, out: str | Path | None = None):
    """The ``SweepConfig`` and the sweep folder for ``config`` (an object, a file or a dict)."""
    if isinstance(config, (str, Path)):
        default_out = Path("sweeps") / Path(config).stem
        config = SweepConfig.from_file(config)
    else:
        default_out = Path("sweeps") / "sweep"
        config = config if isinstance(config, SweepConfig) else SweepConfig.from_dict(config)
    return config, Path(out) if out is not None else default_out


def replicate(out: str | Path = "ladder", config: ReplicateConfig | None = None, *,
              loaded: Mapping[str, Any] | None = None, **fields: Any):
    """Run (or resume) the seed study on each model of ``models`` into ``out``; returns the claims table (one row per
    claim and model: value, 95% interval over items and seeds, verdict, why). ``loaded``: models already loaded,
    by name. The files it writes: ``workbench.replicate``."""
    from workbench.replicate import replicate as run_study

    return run_study(_config(ReplicateConfig, config, fields), out, loaded=loaded)


_signature(sweep, SweepConfig, skip=tuple(n for n in SweepConfig.model_fields if n not in SweepConfig.execution_keys()))
_signature(replicate, ReplicateConfig)
