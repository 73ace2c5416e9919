"""``workbench patch RUN``: activation patching sweep, controls and attribution, stored beside the run."""

from __future__ import annotations

import argparse

from workbench.cli_options import add_config_options, add_run_argument, config_fields
from workbench.configs import PatchConfig


def register(subparsers) -> None:
    parser = subparsers.add_parser("patch", help="patch states between runs block by block; effects, rho, controls")
    add_run_argument(parser)
    add_config_options(parser, PatchConfig)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench import api

    result = api.patch(args.run, **config_fields(args, PatchConfig))
    summary = result.manifest.get("summary", {})
    print(summary.get("pairs_note", ""))
    if summary.get("notes"):
        print(f"note: {summary['notes']}")
    if summary.get("gradient"):
        print(summary["gradient"])
    if "controls_summary" in result.tables:
        print(result["controls_summary"].to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    if "attribution_summary" in result.tables:
        a = result["attribution_summary"].iloc[0]
        print(f"attribution vs exact: Spearman per pair {a['spearman_per_pair_mean']:+.2f} (mean), "
              f"mean profile {a['spearman_profile']:+.2f}")
    print(f"results in {result.path}")
    return 0
