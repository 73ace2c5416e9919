"""What analyses read from a run, with the bad-input checks in one place.

Whether the run is complete (a killed collect is refused unless asked for), labels, question groups (so
no question is in both train and test), role selection (read-outs: ``workbench.layer_selection``), finite
activations, and fold counts: each either returns clean input or raises a ``WorkbenchError`` that names the
problem and the fix. Nothing here computes a metric.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

from workbench.configs import CollectConfig
from workbench.errors import WorkbenchError, WorkbenchWarning, command_line, did_you_mean
from workbench.store import Run


def resume_command(run: Run) -> str:
    """The ``workbench collect`` command that resumes ``run``: every field its config hashes, with the flags the
    CLI parses (``CollectConfig.cli_args``), and the same ``--out``. Execution settings (batch size, device,
    progress, fast) are left out: a resumed run may change them."""
    config = run.manifest.get("execution") or run.config
    execution = CollectConfig.execution_keys()
    decides = {key: value for key, value in config.items() if key not in execution}
    return command_line("workbench", "collect", *CollectConfig.cli_args(decides), "--out", run.path)


def run_model(run: Run, config, **load: object):
    """The model ``run`` was collected with, loaded for a runner that needs it again: on ``config.device``, with
    ``config.backend`` where the config has one (default: the run's). The one place a runner loads a run's model."""
    from workbench.backends import load_model

    backend = getattr(config, "backend", None) or run.config.get("backend", "transformer_lens")
    return load_model(run.config["model"], backend=backend, device=config.device, **load)


def say_progress(config, progress: Callable[[str], None] | None = None) -> Callable[[str], None]:
    """Where a runner's progress lines go: ``progress`` when given, else printed when ``config.progress``."""
    if progress is not None:
        return progress
    return (lambda message: print(f"  {message}", flush=True)) if config.progress else (lambda message: None)


def require_complete(run: Run, allow_incomplete: bool = False) -> None:
    """Refuse a run whose collect did not finish (``"complete": false``) unless ``allow_incomplete``.

    The error names the command that resumes the run. An analysis allowed to read an incomplete run says so
    (a ``WorkbenchWarning``: the CLI prints it as one line) and records it in its result
    (``manifest["run"]["complete"]`` is false; the summary's ``incomplete`` says n of N items)."""
    if run.complete:
        return
    expected = run.manifest.get("n_items")
    of = f" of {expected}" if expected is not None else ""
    if allow_incomplete:
        warnings.warn(WorkbenchWarning(f"{run.path} is an incomplete run: analysing the {run.n_examples}{of} items "
                                       "stored (--allow-incomplete); the result says so"), stacklevel=3)
        return
    raise WorkbenchError(f"{run.path} is an incomplete run: its collect stopped after {run.n_examples}{of} items. "
                         f"Resume it with `{resume_command(run)}`, or pass allow_incomplete=True "
                         f"(--allow-incomplete) to analyse the {run.n_examples} items stored")


def labels(run: Run) -> np.ndarray:
    """[n] bool: whether each example's answer was graded correct."""
    return run.records["correct"].to_numpy(dtype=bool)


def question_groups(run: Run) -> np.ndarray:
    """[n] int group of each example: examples that share a question text share a group."""
    questions = run.records["question"].astype(str).str.strip().str.lower()
    return questions.factorize()[0]


def describe_classes(correct: np.ndarray) -> str:
    n_pos = int(np.sum(correct))
    return f"{n_pos} correct and {len(correct) - n_pos} incorrect"


def require_two_classes(correct: np.ndarray, what: str, where: str = "this run") -> None:
    """A clear error when every example has the same label."""
    n_pos = int(np.sum(correct))
    if n_pos == 0 or n_pos == len(correct):
        state = "correct" if n_pos else "incorrect"
        raise WorkbenchError(f"{what} needs both correct and incorrect answers, but all {len(correct)} answers in "
                             f"{where} are {state}; collect more (or harder/easier) items")


def check_folds(correct: np.ndarray, groups: np.ndarray, folds: int, *, min_train_per_class: int = 2) -> None:
    """A clear error when ``folds`` grouped folds cannot each hold out both classes and train on enough."""
    if not isinstance(folds, (int, np.integer)) or folds < 2:
        raise WorkbenchError(f"folds must be an integer >= 2, got {folds!r}")
    require_two_classes(correct, "a cross-validated probe")
    minority = int(min(np.sum(correct), len(correct) - np.sum(correct)))
    n_groups = len(np.unique(groups))
    if n_groups < folds:
        raise WorkbenchError(f"{folds} folds need at least {folds} distinct questions; this run has {n_groups}")

    def trains_enough(k: int) -> bool:  # the fold holding out the most of the minority still trains on enough
        return minority >= k and minority - -(-minority // k) >= min_train_per_class

    if not trains_enough(folds):
        fit = max((k for k in range(2, minority + 1) if trains_enough(k)), default=None)
        hint = f"use folds={fit}" if fit else "collect more examples"
        raise WorkbenchError(f"too few examples for {folds} folds: the run has {describe_classes(correct)} answers, and "
                             f"each fold must hold out one of each class while training on at least "
                             f"{min_train_per_class} of each; {hint}")


def select_roles(run: Run, roles: str | Sequence[str]) -> list[str]:
    """Role names (one, several, or ``"all"``), each checked against what the run stored."""
    chosen = run.roles if roles == "all" else [roles] if isinstance(roles, str) else list(roles)
    for role in chosen:
        if role not in run.roles:
            raise WorkbenchError(f"role {role!r} not stored in this run.{did_you_mean(role, run.roles)} "
                                 f"Stored roles: {', '.join(run.roles)}")
    if not chosen:
        raise WorkbenchError("no roles selected")
    return list(dict.fromkeys(chosen))


def nonfinite_rows(X: np.ndarray) -> int:
    """How many rows of X [n, d] hold a NaN or infinite value."""
    return int((~np.isfinite(X)).any(axis=1).sum())
