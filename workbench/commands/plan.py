"""``workbench plan``: a run's store size, peak accelerator memory, FLOPs and time, from the model's config.json
alone (no weights); options generated from ``PlanConfig``. Prints a table, then the plan as one JSON line."""

from __future__ import annotations

import argparse

from workbench.cli_options import add_config_options, config_fields
from workbench.configs.plan import PlanConfig


def register(subparsers) -> None:
    parser = subparsers.add_parser("plan", help="size a run before it runs: store, memory, FLOPs and time per stage, "
                                                "from the model's config.json")
    add_config_options(parser, PlanConfig)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench import api

    plan = api.plan(**config_fields(args, PlanConfig))
    print(plan.text())
    print(plan.json())
    return 0
