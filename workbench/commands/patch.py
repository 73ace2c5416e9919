"""``workbench patch RUN``: activation patching sweep, controls and attribution, stored beside the run."""

from __future__ import annotations

import argparse

from workbench.cli_options import add_run_command, config_fields
from workbench.configs import PatchConfig


def register(subparsers) -> None:
    add_run_command(subparsers, "patch", run, PatchConfig,
                    help="patch states between runs block by block; effects, rho, controls")


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
