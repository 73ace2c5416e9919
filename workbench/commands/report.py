"""``workbench report RUN``: one self-contained, offline HTML page: the run's findings, then every figure and table."""

from __future__ import annotations

import argparse

from workbench.cli_options import add_config_options, config_fields
from workbench.configs import AnalysisConfig


def register(subparsers) -> None:
    parser = subparsers.add_parser("report", help="one offline HTML page: a run's findings, every figure and table")
    parser.add_argument("run", help="run directory (its analyses' stored results are included)")
    parser.add_argument("--out", default=None, help="the page's path (default: RUN/report.html)")
    add_config_options(parser, AnalysisConfig, skip=("overwrite",))  # the page is rewritten each time
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench import api

    path = api.report(args.run, args.out, **config_fields(args, AnalysisConfig))
    print(f"report: {path} ({path.stat().st_size / 1e6:.1f} MB, opens offline)")
    return 0
