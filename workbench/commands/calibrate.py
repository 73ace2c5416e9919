"""``workbench calibrate RUN``: every confidence channel side by side (discrimination, calibration, validity
screen) and calibration on known vs unknown items; results and figures beside the run."""

from __future__ import annotations

import argparse

from workbench.commands import add_result_arguments


def register(subparsers) -> None:
    parser = subparsers.add_parser("calibrate", help="calibration, discrimination and validity of every channel")
    parser.add_argument("run", help="run directory (the probe channel is included after `workbench probe`)")
    parser.add_argument("--bins", type=int, default=10, help="number of calibration bins")
    parser.add_argument("--strategy", default="uniform", choices=["uniform", "quantile"],
                        help="equal-width (uniform) or equal-mass (quantile) bins")
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap resamples for the intervals")
    parser.add_argument("--validity", default="default", choices=["default", "strict"], help="validity-screen preset")
    parser.add_argument("--known-threshold", type=float, default=None,
                        help="P(gold) above which an item counts as known (default 0.5)")
    parser.add_argument("--seed", type=int, default=0)
    add_result_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from workbench.analyses.channels import channels, stored_result
    from workbench.analyses.prior_knowledge import DEFAULT_THRESHOLD, prior_knowledge
    from workbench.analyses.summary import format_channels
    from workbench.figures.run_report import write_report
    from workbench.store import open_run

    target = open_run(args.run)
    probes = stored_result(target, "probes")
    options = dict(n_bins=args.bins, strategy=args.strategy, n_boot=args.boot, seed=args.seed,
                   allow_incomplete=args.allow_incomplete, overwrite=args.overwrite)
    result = channels(target, probes=probes, thresholds=args.validity, **options)
    print(format_channels(result["channels"]))
    validity = result["validity"][["channel", "n", "ceiling_rate", "trin", "sparsity", "r", "tier", "reasons"]]
    print(f"validity screen ({args.validity}):")
    print(validity.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    threshold = DEFAULT_THRESHOLD if args.known_threshold is None else args.known_threshold
    prior = prior_knowledge(target, probes=probes, threshold=threshold, **options)
    contrast = prior["contrast"]
    print(f"prior knowledge (known: P(gold) > {threshold:g}):")
    with pd.option_context("display.width", 200):
        print(contrast.to_string(index=False, float_format=lambda v: f"{v:+.3f}"))
    print(f"results: {result.path}, {prior.path}\nreport: {write_report(target, allow_incomplete=args.allow_incomplete)}")
    return 0
