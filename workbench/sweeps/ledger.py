"""The sweep folder on disk, and running one unit so that a kill at any moment loses and duplicates nothing.

```
SWEEP_OUT/
  sweep.json                 format, workbench version, the latest config and its unit addresses
  configs/<hash>.json        every config run into this folder
  summary.csv                the latest summary table
  units/<hash>/
    unit.json                the unit's config (its address is the hash of ``config``)
    run/                     collect: the run store; an analysis: a view of its run (links to the
                             collect unit's records and activations) whose results/ holds its results
    done.json                written atomically once run/ is complete: the only sign a unit is done
    error.txt                the traceback of the last failure (removed by a later success)
```

A unit without ``done.json`` is redone: a resumable stage (collect, patch, sample, steer) continues in ``run/``
where its own store left off; any other stage starts again in a fresh ``.partial/`` that is renamed to ``run/``
only once complete. One sweep at a time writes into a folder (a lock, released by the OS on a kill).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from workbench.errors import WorkbenchError
from workbench.store.paths import check_output_dir
from workbench.store.provenance import library_versions, write_bytes_atomic, write_json_atomic
from workbench.sweeps.config import SweepConfig
from workbench.sweeps.stages import STAGES, Inputs
from workbench.sweeps.units import Unit

SWEEP_FORMAT = 1
SWEEP_FILE = "sweep.json"
MARKER = "done.json"
ERROR = "error.txt"
PARTIAL = ".partial"
VIEW_LINKS = ("manifest.json", "records", "activations")  # what an analysis's run view links to


def units_dir(out: str | Path) -> Path:
    return Path(out) / "units"


def unit_dir(out: str | Path, unit_hash: str) -> Path:
    return units_dir(out) / unit_hash


def read_marker(out: str | Path, unit_hash: str) -> dict[str, Any] | None:
    """The done marker of a unit, or None when the unit is not done."""
    path = unit_dir(out, unit_hash) / MARKER
    return json.loads(path.read_text()) if path.exists() else None


def read_error(out: str | Path, unit_hash: str) -> str | None:
    path = unit_dir(out, unit_hash) / ERROR
    return path.read_text() if path.exists() else None


@contextmanager
def sweep_folder(out: str | Path, config: SweepConfig, units: list[Unit]) -> Iterator[Path]:
    """Open (or create) a sweep output folder: refuse another format or a non-sweep folder, take the lock
    (released on exit, or by the OS), record the config."""
    out = Path(out)
    check_sweep_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(out / ".lock", timeout=0)
    try:
        lock.acquire()
    except Timeout:
        holder = (out / ".lock").read_text().strip() or "?"
        raise WorkbenchError(f"another sweep (pid {holder}) is writing into {out}; wait for it or use "
                             "another --out") from None
    try:
        (out / ".lock").write_text(str(os.getpid()))
        from workbench import __version__

        record = {"format": SWEEP_FORMAT, "workbench": __version__, "config": config.to_dict(),
                  "config_hash": config.hash(), "units": [u.hash for u in units]}
        write_json_atomic(out / "configs" / f"{record['config_hash']}.json", record)
        write_json_atomic(out / SWEEP_FILE, record)
        yield out
    finally:
        lock.release()


def check_sweep_folder(out: Path) -> None:
    """A clear error (and nothing touched) for a folder that is not a sweep of this format."""
    check_output_dir(out)
    record_path = out / SWEEP_FILE
    if record_path.exists():
        try:
            record = json.loads(record_path.read_text())
        except json.JSONDecodeError:
            raise WorkbenchError(f"{record_path} is unreadable; this is not a sweep folder of this version. "
                                 "Use another --out (nothing was changed)") from None
        if record.get("format") != SWEEP_FORMAT:
            raise WorkbenchError(
                f"{out} holds a sweep of another format ({record.get('format')!r}, written by workbench "
                f"{record.get('workbench', '?')}); this version reads format {SWEEP_FORMAT}. Use another --out, or "
                "that version of the workbench (nothing was changed)")
    elif out.exists() and any(p.name != ".lock" for p in out.iterdir()):
        raise WorkbenchError(f"{out} exists and is not a sweep folder (no {SWEEP_FILE}); use an empty or new --out "
                             "(nothing was changed)")


def execute_unit(unit_data: dict[str, Any], out: str, progress: bool = False) -> dict[str, Any]:
    """Run one unit (a ``Unit.to_dict()``) into the sweep folder ``out`` unless it is done; never raises for the
    unit's own failure: returns an outcome {hash, status: cached|ran|failed, seconds, metrics, error}."""
    unit = Unit.from_dict(unit_data)
    if (marker := read_marker(out, unit.hash)) is not None:
        return {"hash": unit.hash, "status": "cached", "seconds": marker["seconds"], "metrics": marker["metrics"],
                "worker": marker.get("worker", "")}
    worker = f"{socket.gethostname()}:{os.getpid()}"
    udir = unit_dir(out, unit.hash)
    started = time.monotonic()
    try:
        write_json_atomic(udir / "unit.json", {"label": unit.label, "hash": unit.hash, "config": unit.config(),
                                               "unit": unit.to_dict()})
        for name, dep in unit.deps.items():
            if read_marker(out, dep) is None:
                raise WorkbenchError(f"the {name} unit {dep[:12]} this unit reads is not done")
        stage = STAGES[unit.analysis]
        inputs = Inputs(unit, units_dir(out), progress)
        final = udir / "run"
        if stage.resumable:  # the stage continues its own stored progress in run/
            if "collect" in unit.deps and not final.exists():
                replace_dir(fresh_view(udir, unit_dir(out, unit.deps["collect"]) / "run"), final)
            metrics = stage.run(unit, inputs, final)
        else:  # from scratch in .partial/, renamed to run/ once complete
            work = fresh_view(udir, unit_dir(out, unit.deps["collect"]) / "run")
            metrics = stage.run(unit, inputs, work)
            replace_dir(work, final)
        seconds = time.monotonic() - started
        results = sorted(p.name for p in (final / "results").iterdir()) if (final / "results").is_dir() else []
        write_json_atomic(udir / MARKER, {"hash": unit.hash, "label": unit.label, "analysis": unit.analysis,
                                          "metrics": metrics, "seconds": seconds, "results": results,
                                          "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "worker": worker,
                                          "versions": library_versions()})
        (udir / ERROR).unlink(missing_ok=True)
        return {"hash": unit.hash, "status": "ran", "seconds": seconds, "metrics": metrics, "worker": worker}
    except Exception as error:  # the unit failed; the sweep goes on with the others
        message = str(error) if isinstance(error, WorkbenchError) else f"{type(error).__name__}: {error}"
        record_failure(out, unit, message, traceback.format_exc())
        shutil.rmtree(udir / PARTIAL, ignore_errors=True)
        return {"hash": unit.hash, "status": "failed", "seconds": time.monotonic() - started, "metrics": {},
                "error": message, "worker": worker}


def record_failure(out: str | Path, unit: Unit, message: str, details: str = "") -> None:
    text = f"{unit.label} ({unit.hash})\n{time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n{message}\n\n{details}"
    write_bytes_atomic(unit_dir(out, unit.hash) / ERROR, text.encode())


def fresh_view(udir: Path, run_dir: Path) -> Path:
    """``udir/.partial``, emptied, as a view of the run at ``run_dir``."""
    work = udir / PARTIAL
    shutil.rmtree(work, ignore_errors=True)
    make_run_view(work, run_dir)
    return work


def replace_dir(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``; a ``target`` left by a kill between an earlier rename and its marker goes."""
    if target.exists():
        shutil.rmtree(target)
    os.replace(source, target)


def make_run_view(view: Path, run_dir: Path) -> None:
    """A folder that opens as the run at ``run_dir`` (relative links to its manifest, records and
    activations) with its own empty results/, so an analysis writes its results beside a run it never changes."""
    view.mkdir(parents=True)
    for name in VIEW_LINKS:
        target = run_dir / name
        if not target.exists():
            raise WorkbenchError(f"the run at {run_dir} has no {name}; its collect unit is incomplete")
        os.symlink(os.path.relpath(target, view), view / name)
    (view / "results").mkdir()
