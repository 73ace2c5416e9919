"""``workbench report RUN``: one self-contained, offline HTML page with every figure and table of the run."""

from __future__ import annotations

import argparse

from workbench.commands import add_result_arguments


def register(subparsers) -> None:
    parser = subparsers.add_parser("report", help="one offline HTML page: every figure and table of a run")
    parser.add_argument("run", help="run directory (its analyses' stored results are included)")
    parser.add_argument("--out", default=None, help="the page's path (default: RUN/report.html)")
    add_result_arguments(parser, overwrite=False)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench.figures.run_report import write_report

    path = write_report(args.run, args.out, allow_incomplete=args.allow_incomplete)
    print(f"report: {path} ({path.stat().st_size / 1e6:.1f} MB, opens offline)")
    return 0
