"""The same sweep on 1 and on 2 workers (each into a fresh folder), wall time of each and their ratio.

    .venv/bin/python benchmarks/sweep_workers.py                       # local executor (worker processes)
    .venv/bin/python benchmarks/sweep_workers.py --executor ray        # a local Ray cluster of 1, then 2 CPUs
    .venv/bin/python benchmarks/sweep_workers.py --limit 32 --seeds 0,1
    .venv/bin/python benchmarks/sweep_workers.py --smoke                # 2 units of 4 items (the test suite's size)

One worker runs the units one after another (local: in this process); two run two units at a time, each
worker with its own copy of the model and half the CPU threads. The ratio is t(1 worker) / t(2 workers):
2.0 is perfect scaling; on a machine with few cores, or one shared with other work, expect less (model
loading is paid once per worker, and two workers share the cores one worker's torch already used). Ends with one
JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
SMOKE = {"datasets": "capitals", "seeds": "0", "limit": 4}


def sweep_config(datasets: list[str], seeds: list[int], limit: int):
    from workbench.sweeps import SweepConfig

    return SweepConfig.from_dict({
        "sweep": {"models": ["smollm2-135m-instruct"], "datasets": datasets, "seeds": seeds,
                  "analyses": ["collect", "calibrate"]},
        "collect": {"limit": limit, "batch_size": limit}, "calibrate": {"n_boot": 200}})


def timed(config, executor: str, workers: int, root: Path) -> float:
    import torch

    from workbench.sweeps import run_sweep, sweep_failed

    before = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)  # one worker in this process uses every core; N workers split them
    start = time.perf_counter()
    summary = run_sweep(config, root / f"{executor}-{workers}", executor=executor, workers=workers, progress=False)
    seconds = time.perf_counter() - start
    torch.set_num_threads(before)
    if sweep_failed(summary):
        raise SystemExit(f"the sweep failed on {workers} workers:\n{summary[['analysis', 'dataset', 'error']]}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executor", default="local", choices=("local", "ray"))
    parser.add_argument("--datasets", default="capitals,arithmetic,elements")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--limit", type=int, default=8)
    parser.add_argument("--smoke", action="store_true", help=f"a tiny size for the test suite: {SMOKE}")
    args = parser.parse_args(argv)
    if args.smoke:  # smoke sizes as defaults, so an explicit option still wins
        parser.set_defaults(**SMOKE)
        args = parser.parse_args(argv)
    config = sweep_config(args.datasets.split(","), [int(s) for s in args.seeds.split(",")], args.limit)
    n_units = len(config.datasets) * len(config.seeds) * 2
    print(f"sweep: {n_units} units (collect + calibrate of {args.limit} items on {len(config.datasets)} datasets x "
          f"{len(config.seeds)} seeds), SmolLM2, executor {args.executor}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        times = {workers: timed(config, args.executor, workers, Path(tmp)) for workers in (1, 2)}
    for workers, seconds in times.items():
        print(f"{workers} worker{'s' if workers > 1 else ''}: {seconds:7.1f} s")
    print(f"ratio t(1 worker) / t(2 workers): {times[1] / times[2]:.2f}")
    print(json.dumps({"benchmark": "sweep_workers", "executor": args.executor, "units": n_units, "limit": args.limit,
                      "seconds_1_worker": round(times[1], 2), "seconds_2_workers": round(times[2], 2),
                      "ratio": round(times[1] / times[2], 3)}))


if __name__ == "__main__":
    main()
