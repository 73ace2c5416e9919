"""``workbench figures RESULTS``: every paper figure regenerated from stored results (no model is run)."""

from __future__ import annotations

import argparse
import sys

from workbench.cli_options import add_config_options, config_fields
from workbench.configs import AnalysisConfig


def register(subparsers) -> None:
    parser = subparsers.add_parser("figures", help="regenerate every figure from stored results, in the paper style")
    parser.add_argument("results", help="a run folder, a sweep folder, or any folder holding them")
    parser.add_argument("--format", default="svg,pdf,png", help="comma-separated: svg, pdf, png, html (default: svg,pdf,png)")
    parser.add_argument("--out", default="figures", help="output folder (default: figures/)")
    add_config_options(parser, AnalysisConfig, skip=("overwrite",))  # figures are files, rewritten each time
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench.figures.paper import regenerate_figures

    done = regenerate_figures(args.results, args.out, args.format, **config_fields(args, AnalysisConfig))
    for path, reason in done.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    print(f"{len(done.paths)} files in {args.out}")
    return 1 if done.skipped else 0
