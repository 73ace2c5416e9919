"""``run_sweep``: validate, plan the units, run what is not done (each after the units it reads), summarize.

A unit whose dependency failed is skipped (and says so); the others go on. The summary has one row per
unit of this config: status ``cached`` (done before), ``ran``, ``failed`` (its error in
``units/<hash>/error.txt``) or ``skipped``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from workbench.errors import WorkbenchError
from workbench.store.provenance import write_bytes_atomic
from workbench.sweeps.config import ANALYSES, SweepConfig
from workbench.sweeps.executors import import_ray, make_executor
from workbench.sweeps.ledger import read_marker, record_failure, sweep_folder
from workbench.sweeps.stages import STAGES, forget, preload
from workbench.sweeps.units import Unit, dataset_label, plan_units

SUMMARY_COLUMNS = ("unit", "analysis", "model", "dataset", "seed", "status", "seconds", "headline", "error",
                   "worker", "metrics")
FAILED = ("failed", "skipped")


def preflight(config: SweepConfig, executor: str = "local") -> None:
    """What the config cannot show alone, checked before any unit runs: the executor is installed, model
    weight packages are present, dataset files parse, nothing asks for what this version cannot do."""
    from workbench.backends.loading import MODELS, gguf_sources
    from workbench.datasets import load_dataset

    if executor == "ray":
        import_ray()
    checks = [(f"sweep.models[{i}]", gguf_sources, MODELS[m.name]) for i, m in enumerate(config.models)
              if m.name in MODELS]
    checks += [(f"sweep.datasets[{i}]", load_dataset, d) for i, d in enumerate(config.datasets) if Path(d).is_file()]
    for where, check, value in checks:
        try:
            check(value)
        except WorkbenchError as error:
            raise WorkbenchError(f"{where}: {error}") from None


def run_sweep(config: SweepConfig | str | Path, out: str | Path, *, executor: str = "local", workers: int = 1,
              address: str | None = None, progress: bool = True, loaded: Mapping[str, Any] | None = None,
              task_options: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Run every unit of ``config`` (a ``SweepConfig`` or a config file) not already done in ``out``.

    ``executor``: ``local`` (this process when ``workers == 1``, else worker processes) or ``ray`` (a local
    cluster of ``workers`` CPUs, or the cluster at ``address``). ``loaded``: already loaded models by name,
    used by units run in this process. Returns the summary table (also written to ``out/summary.csv``).
    """
    if not isinstance(config, SweepConfig):
        config = SweepConfig.from_file(config)
    preflight(config, executor)
    units = plan_units(config)
    given = preload(loaded)
    try:
        with sweep_folder(out, config, units) as root:
            runner = make_executor(executor, workers, address=address, progress=progress, task_options=task_options)
            outcomes = _schedule(units, str(root), runner, progress)
            summary = summary_frame(units, outcomes)
            write_bytes_atomic(root / "summary.csv", summary.drop(columns="metrics").to_csv(index=False).encode())
    finally:
        forget(given)
    return summary


def _schedule(units: list[Unit], out: str, executor, progress: bool) -> dict[str, dict[str, Any]]:
    outcomes: dict[str, dict[str, Any]] = {}
    stages = [a for a in ANALYSES if any(u.analysis == a for u in units)]
    bars = {a: tqdm(total=sum(u.analysis == a for u in units), desc=f"{a:>10}", unit="unit", position=i,
                    disable=not progress, leave=True) for i, a in enumerate(stages)}
    pending: list[Unit] = []
    for unit in units:  # done before: no need to send them anywhere
        if (marker := read_marker(out, unit.hash)) is None:
            pending.append(unit)
        else:
            outcomes[unit.hash] = {"hash": unit.hash, "status": "cached", "seconds": marker["seconds"],
                                   "metrics": marker["metrics"]}
            bars[unit.analysis].update(1)
    in_flight: dict[Any, Unit] = {}
    try:
        while pending or in_flight:
            for unit in list(pending):
                if len(in_flight) >= executor.capacity:
                    break
                states = {dep: outcomes.get(dep, {}).get("status") for dep in unit.deps.values()}
                if bad := [dep for dep, state in states.items() if state in FAILED]:
                    outcomes[unit.hash] = {"hash": unit.hash, "status": "skipped", "seconds": 0.0, "metrics": {},
                                           "error": f"not run: the unit it reads ({bad[0][:12]}) did not finish"}
                    pending.remove(unit)
                    bars[unit.analysis].update(1)
                elif all(s in ("cached", "ran") for s in states.values()):
                    pending.remove(unit)
                    in_flight[executor.submit(unit.to_dict(), out)] = unit
            if not in_flight:
                if pending:  # cannot happen for a planned sweep (dependencies come first); never spin
                    raise WorkbenchError(f"units waiting on units outside the sweep: {pending[0].label}")
                break
            for handle, outcome in executor.wait(list(in_flight)):
                unit = in_flight.pop(handle)
                outcomes[unit.hash] = {"hash": unit.hash, **outcome}
                if outcome.get("crashed"):  # the process running it died: nobody wrote its error yet
                    record_failure(out, unit, outcome["error"])
                bars[unit.analysis].update(1)
    finally:
        executor.close()
        for bar in bars.values():
            bar.close()
    return outcomes


def summary_frame(units: list[Unit], outcomes: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per unit: what it is, what happened, its headline numbers."""
    rows = []
    for unit in units:
        outcome = outcomes.get(unit.hash, {"status": "not run", "metrics": {}})
        metrics = outcome.get("metrics") or {}
        headline = ""
        if outcome["status"] in ("cached", "ran") and metrics:
            with contextlib.suppress(KeyError, TypeError, ValueError):  # metrics it cannot format: no headline
                headline = STAGES[unit.analysis].headline(metrics)
        rows.append({"unit": unit.hash[:12], "analysis": unit.analysis, "model": unit.model.short,
                     "dataset": dataset_label(unit.dataset), "seed": unit.seed, "status": outcome["status"],
                     "seconds": round(float(outcome.get("seconds") or 0.0), 1), "headline": headline,
                     "error": next(iter((outcome.get("error") or "").splitlines()), ""),
                     "worker": outcome.get("worker", ""), "metrics": dict(metrics)})
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def format_summary(summary: pd.DataFrame) -> str:
    """The summary as aligned text, failures last with their error's first line."""
    counts = summary["status"].value_counts()
    totals = ", ".join(f"{counts[s]} {s}" for s in ("ran", "cached", "failed", "skipped") if s in counts)
    with pd.option_context("display.width", 240, "display.max_colwidth", 90):
        text = summary.drop(columns=["metrics", "error", "worker"]).to_string(index=False)
    failures = [f"{row.status}: {row.analysis} {row.model}/{row.dataset}/seed{row.seed} ({row.unit}): {row.error}"
                for row in summary[summary["status"].isin(FAILED)].itertuples()]
    return "\n".join([text, f"{len(summary)} units: {totals}", *failures])


def sweep_failed(summary: pd.DataFrame) -> bool:
    return bool(summary["status"].isin(FAILED).any())
