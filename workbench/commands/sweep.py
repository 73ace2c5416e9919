"""``workbench sweep CONFIG``: run a sweep (models x datasets x seeds x stages); re-runs do only what is missing."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("sweep", help="run models x datasets x seeds x analyses from a TOML/YAML config")
    parser.add_argument("config", help="sweep config (.toml, or .yaml with PyYAML installed)")
    parser.add_argument("--out", default=None, help="sweep folder (default: sweeps/<config name>)")
    parser.add_argument("--executor", default="local", choices=("local", "ray"),
                        help="local: this machine, no extra service; ray: Ray tasks (pip install "
                             "'confidence-workbench[ray]')")
    parser.add_argument("--workers", type=int, default=1,
                        help="units in flight at once (local: processes; ray: CPUs of the local cluster)")
    parser.add_argument("--address", default=None,
                        help="Ray cluster address (ray://HEAD:10001, or 'auto' on a cluster node); default: start a "
                             "local cluster")
    parser.add_argument("--dry-run", action="store_true", help="validate and list the units, run nothing")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench.sweeps import SweepConfig, format_summary, plan_units, preflight, run_sweep, sweep_failed
    from workbench.sweeps.executors import check_executor
    from workbench.sweeps.ledger import read_marker

    config = SweepConfig.from_file(args.config)
    out = Path(args.out) if args.out else Path("sweeps") / Path(args.config).stem
    if args.dry_run:
        check_executor(args.executor, args.workers)
        preflight(config, args.executor)
        units = plan_units(config)
        for unit in units:
            state = "done" if read_marker(out, unit.hash) else "to run"
            print(f"{unit.hash[:12]}  {state:>6}  {unit.label}")
        print(f"{len(units)} units; config valid")
        return 0
    summary = run_sweep(config, out, executor=args.executor, workers=args.workers, address=args.address,
                        progress=not args.no_progress)
    print(format_summary(summary))
    print(f"sweep folder: {out}")
    return 1 if sweep_failed(summary) else 0
