"""``workbench sweep CONFIG``: run a sweep (models x datasets x seeds x stages); re-runs do only what is missing.

The options are the sweep's execution keys (``SweepConfig``: executor, workers, address, progress); given here,
they override the file's ``[sweep]`` values.
"""

from __future__ import annotations

import argparse

from workbench.cli_options import add_config_options, config_fields
from workbench.sweeps.config import SweepConfig

RUNTIME = tuple(SweepConfig.execution_keys())


def register(subparsers) -> None:
    parser = subparsers.add_parser("sweep", help="run models x datasets x seeds x analyses from a TOML/YAML config")
    parser.add_argument("config", help="sweep config (.toml, .json, or .yaml with PyYAML installed)")
    parser.add_argument("--out", default=None, help="sweep folder (default: sweeps/<config name>)")
    add_config_options(parser, SweepConfig, skip=tuple(n for n in SweepConfig.model_fields if n not in RUNTIME))
    parser.add_argument("--dry-run", action="store_true", help="validate and list the units, run nothing "
                                                                 "(default: off)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench import studies
    from workbench.sweeps import format_summary, plan_units, preflight, sweep_failed
    from workbench.sweeps.ledger import read_marker

    config, out = studies.load_sweep(args.config, args.out)
    fields = config_fields(args, SweepConfig)
    if args.dry_run:
        config = config.replace(**fields) if fields else config
        preflight(config, config.executor)
        units = plan_units(config)
        for unit in units:
            state = "done" if read_marker(out, unit.hash) else "to run"
            print(f"{unit.hash[:12]}  {state:>6}  {unit.label}")
        print(f"{len(units)} units; config valid")
        return 0
    summary = studies.sweep(config, out, **fields)
    print(format_summary(summary))
    print(f"sweep folder: {out}")
    return 1 if sweep_failed(summary) else 0
