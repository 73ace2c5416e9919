"""``workbench steer RUN``: add alpha x a probe direction at the confidence slot, read-out by read-out, beside random
directions of the same norm; dose-response result and figure stored beside the run (``wb.steer``)."""

from __future__ import annotations

import argparse

from workbench.cli_options import add_run_command, config_fields
from workbench.configs import SteerConfig


def register(subparsers) -> None:
    add_run_command(
        subparsers, "steer", run, SteerConfig,
        help="steer along the probe direction at the confidence slot; dose-response vs random directions",
        description="Cost: one forward of each example's prompt, then per (read-out, alpha, direction) a one-token "
                    "step, the vocabulary scoring and a 4-token decode; (1 + n-random) x read-outs x alphas "
                    "conditions in all.")


def run(args: argparse.Namespace) -> int:
    from workbench import api

    config = SteerConfig(**config_fields(args, SteerConfig))  # bad flags fail before the run is read
    result = api.steer(args.run, config)
    print(result.manifest["summary"]["layers"])
    print(result.manifest["summary"]["headline"])
    if config.figures:
        print(f"figures: {result.path / 'figures'}")
    print(f"results in {result.path}")
    return 0
