"""``workbench replicate``: the seed study's claims across a ladder of models (claims.csv, report.html, ladder.md)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    from workbench.replicate import DEFAULT_LADDER

    parser = subparsers.add_parser("replicate", help="test the seed study's 8 claims on each model of a ladder")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_LADDER), metavar="MODEL",
                        help="registry models (see `workbench models`) (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=300, help="items per model (seeded, family-stratified) (default: %(default)s)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds of each model's collect and analyses (default: %(default)s)")
    parser.add_argument("--dataset", default="all", help="built-in family, part of one (elements/symbol) or a file (default: %(default)s)")
    parser.add_argument("--out", default="ladder", help="study folder (resumed when it holds the same study) (default: %(default)s)")
    parser.add_argument("--n-pairs", type=int, default=24, help="patching pairs per model and seed (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=16, help="prompts per forward (default: %(default)s)")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the intervals (default: %(default)s)")
    parser.add_argument("--executor", default="local", choices=("local", "ray"), help="where units run (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=1, help="units at once (default: %(default)s)")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars (default: %(default)s)")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: write the claims and report from what is stored so far (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench.replicate import replicate

    claims = replicate(args.models, limit=args.limit, seeds=args.seeds, out=args.out, dataset=args.dataset,
                       n_pairs=args.n_pairs, batch_size=args.batch_size, n_boot=args.n_boot, executor=args.executor,
                       workers=args.workers, address=args.address, progress=not args.no_progress,
                       run=not args.report_only)
    for row in claims.itertuples():
        print(f"{row.claim:<20} {row.model:<30} {row.verdict:<13} {row.value:+.3f} [{row.low:+.3f}, {row.high:+.3f}]"
              f"  {row.why}")
    print(f"claims: {args.out}/claims.csv  report: {args.out}/report.html  README table: {args.out}/ladder.md")
    return 0
