"""Where units run: in this process, in local worker processes, or as Ray tasks.

Every executor runs ``ledger.execute_unit(unit_dict, out)`` and hands back its outcome dict; the
scheduling (what is ready, what failed) is the runner's. ``submit`` returns a handle; ``wait`` returns
at least one finished (handle, outcome).

- ``local``, 1 worker: units run in this process, one after another (a model stays loaded between them).
- ``local``, N workers: N spawned processes, torch threads split between them.
- ``ray``: Ray tasks (``pip install 'confidence-workbench[ray]'``), on a local cluster started here with
  ``workers`` CPUs, or on the cluster at ``address`` (``ray://head:10001``, or ``auto`` on a cluster node).
  The sweep folder must be on storage every node sees.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Mapping
from typing import Any

from workbench.errors import WorkbenchError, did_you_mean
from workbench.sweeps.ledger import execute_unit

RAY_INSTALL = "pip install 'confidence-workbench[ray]'"
FORWARDED_ENV = ("WORKBENCH_CACHE", "WORKBENCH_DATA_DIR", "HF_HOME", "HF_HUB_OFFLINE")


class Executor:
    """Runs units; ``capacity`` is how many may be in flight at once."""

    capacity = 1

    def submit(self, unit_data: dict[str, Any], out: str) -> Any:
        raise NotImplementedError

    def wait(self, handles: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class InlineExecutor(Executor):
    """One unit at a time in this process (the default): no extra processes, models reused between units."""

    def __init__(self, progress: bool = True):
        self.progress = progress
        self._done: dict[int, dict[str, Any]] = {}
        self._next = 0

    def submit(self, unit_data: dict[str, Any], out: str) -> int:
        handle, self._next = self._next, self._next + 1
        self._done[handle] = execute_unit(unit_data, out, progress=self.progress)
        return handle

    def wait(self, handles: list[int]) -> list[tuple[int, dict[str, Any]]]:
        return [(h, self._done.pop(h)) for h in handles if h in self._done]


def crashed(error: str) -> dict[str, Any]:
    """The outcome of a unit whose process died: nobody wrote its error yet (the runner does)."""
    return {"status": "failed", "seconds": 0.0, "metrics": {}, "error": error, "crashed": True}


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


class ProcessExecutor(Executor):
    """``workers`` spawned processes on this machine; each keeps its model loaded between units."""

    def __init__(self, workers: int):
        self.capacity = workers
        self.threads = max(1, (os.cpu_count() or 1) // workers)
        self._pool = self._new_pool()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(max_workers=self.capacity, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=_init_worker, initargs=(self.threads,))

    def submit(self, unit_data: dict[str, Any], out: str) -> cf.Future:
        return self._pool.submit(execute_unit, unit_data, out)

    def wait(self, handles: list[cf.Future]) -> list[tuple[cf.Future, dict[str, Any]]]:
        done, _ = cf.wait(handles, return_when=cf.FIRST_COMPLETED)
        finished = []
        for future in done:
            if (error := future.exception()) is None:
                finished.append((future, future.result()))
            else:  # the worker process died (killed, out of memory): the pool must be replaced
                finished.append((future, crashed(f"worker process died: {type(error).__name__}: {error}")))
                if isinstance(error, cf.process.BrokenProcessPool):
                    self._pool.shutdown(wait=False, cancel_futures=True)
                    self._pool = self._new_pool()
        return finished

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def import_ray():
    """``ray``, or a clear error with the install command."""
    try:
        import ray
    except ImportError:
        raise WorkbenchError(f"the ray executor needs Ray, which is not installed; install it with: {RAY_INSTALL}"
                             ) from None
    return ray


class RayExecutor(Executor):
    """Units as Ray tasks (one CPU each unless ``task_options`` say otherwise, e.g. ``{"num_gpus": 1}``), at most
    ``workers`` in flight; a local cluster started here is stopped at ``close``."""

    def __init__(self, workers: int, address: str | None = None, task_options: Mapping[str, Any] | None = None):
        self.ray = ray = import_ray()
        self.capacity = workers
        env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        self._started = not ray.is_initialized()
        if self._started:
            options: dict[str, Any] = {"runtime_env": {"env_vars": env} if env else None}
            if address is None:  # a local cluster of our own: small, quiet
                options.update(num_cpus=workers, object_store_memory=256 * 1024 ** 2, include_dashboard=False,
                               log_to_driver=False)
            try:
                ray.init(address=address, **options)
            except ConnectionError as error:
                raise WorkbenchError(f"cannot reach a Ray cluster at {address!r}: {error}") from None
        self._remote = ray.remote(execute_unit).options(**{"num_cpus": 1, "max_retries": 1, **(task_options or {})})

    def submit(self, unit_data: dict[str, Any], out: str) -> Any:
        return self._remote.remote(unit_data, out)

    def wait(self, handles: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
        ready, _ = self.ray.wait(handles, num_returns=1)
        finished = []
        for ref in ready:
            try:
                finished.append((ref, self.ray.get(ref)))
            except Exception as error:  # the task's worker died; the unit's own errors come back as outcomes
                finished.append((ref, crashed(f"ray task failed: {type(error).__name__}: {error}")))
        return finished

    def close(self) -> None:
        if self._started:
            self.ray.shutdown()


EXECUTORS = ("local", "ray")


def make_executor(name: str, workers: int = 1, *, address: str | None = None, progress: bool = True,
                  task_options: Mapping[str, Any] | None = None) -> Executor:
    """The executor ``name`` with ``workers`` units in flight; a clear error for an unknown executor or a worker count
    below 1."""
    if name not in EXECUTORS:
        raise WorkbenchError(f"unknown executor {name!r}.{did_you_mean(name, EXECUTORS)} Choose one of "
                             f"{', '.join(EXECUTORS)}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise WorkbenchError(f"workers must be a positive integer (units in flight at once), got {workers!r}; "
                             "use --workers 1 to run units one after another")
    if name == "ray":
        return RayExecutor(workers, address, task_options)
    if address is not None:
        raise WorkbenchError("--address is for --executor ray")
    return InlineExecutor(progress) if workers == 1 else ProcessExecutor(workers)
