"""``workbench replicate``: the seed study's claims across a ladder of models (claims.csv, report.html, ladder.md);
options generated from ``ReplicateConfig``."""

from __future__ import annotations

import argparse

from workbench.cli_options import add_config_options, config_fields
from workbench.configs.replicate import ReplicateConfig


def register(subparsers) -> None:
    parser = subparsers.add_parser("replicate", help="test the seed study's claims on each model of a ladder")
    add_config_options(parser, ReplicateConfig)
    parser.add_argument("--out", default="ladder", help="study folder (resumed when it holds the same study) "
                                                         "(default: ladder)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench import studies
    from workbench.figures.ladder import value_text

    claims = studies.replicate(args.out, **config_fields(args, ReplicateConfig))
    for row in claims.fillna({"position": ""}).itertuples():
        where = f"{row.definition}{'@' + row.position if row.position else ''}"
        print(f"{row.claim:<26} {where:<26} {row.model:<28} {row.verdict:<13} "
              f"{value_text(row.value, row.low, row.high, 3):<24}  {row.why}")
    print(f"claims: {args.out}/claims.csv  report: {args.out}/report.html  README table: {args.out}/ladder.md")
    return 0
