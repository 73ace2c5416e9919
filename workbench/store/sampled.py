"""Where the sampling channels of a run live, and reading them: a keyed result like every analysis's.

``workbench.sampling.sample_channels`` stores ``RUN/results/sampling/<key>/`` (``store.results``; the key hashes the
sampling config with the run, so another k sits beside the earlier table): table ``samples``, one row per example;
unfinished batches wait in ``<key>/partial/``. The channels analysis reads the run's latest sampling result (or the
one it is given) and records which.
"""

from __future__ import annotations

from workbench.errors import WorkbenchError, command_line
from workbench.store.results import Result, find_result, result_dir, result_ref
from workbench.store.run_store import Run

ANALYSIS = "sampling"
TABLE = "samples"
LEGACY_DIR = "sampling"  # RUN/sampling/: where an earlier version kept one unkeyed table
# channel -> column of the sampling table (each a confidence in [0, 1])
SAMPLING_CHANNELS: dict[str, str] = {name: name for name in ("self_consistency", "semantic_entropy", "p_true")}


def sampling_result(run: Run) -> Result | None:
    """The run's latest complete sampling result, or None when ``workbench sample`` has not been run on it."""
    result = find_result(run.path, ANALYSIS)
    if result is not None:
        check_sampling(result, run)
    elif (run.path / LEGACY_DIR / "manifest.json").exists():
        raise WorkbenchError(f"{run.path / LEGACY_DIR} holds sampling channels stored before they were keyed by "
                             f"config; re-run `{command_line('workbench', 'sample', run.path)}` with its settings "
                             f"(stored then in {result_dir(run.path, ANALYSIS)}) and remove {run.path / LEGACY_DIR}")
    return result


def check_sampling(result: Result, run: Run) -> None:
    """A clear error when ``result`` is not a sampling result of this run."""
    if result.analysis != ANALYSIS:
        raise WorkbenchError(f"{result.path} is a {result.analysis!r} result, not sampling channels; give the "
                             f"result of `workbench sample` ({result_dir(run.path, ANALYSIS)})")
    if result.manifest.get("run", {}).get("config_hash") != run.manifest.get("config_hash"):
        raise WorkbenchError(f"{result.path} was sampled from another run (config hash differs); run "
                             f"`{command_line('workbench', 'sample', run.path)}`")


def sampling_source(result: Result, root: str | Path) -> str:
    """One line naming the sampling config a channel came from: ``k=5, T=1.0, seed=0 (results/sampling/<key>)``."""
    c = result.config
    return (f"sampled k={c['k']}, temperature={c['temperature']}, seed={c['seed']}"
            f"{', answer <= ' + str(c['max_answer_tokens']) + ' tokens' if c.get('max_answer_tokens') else ''}"
            f" ({result_ref(result, root)})")
