"""``workbench probe RUN``: layer-wise probes (and replication across seeds), results and figures beside the run."""

from __future__ import annotations

import argparse

from workbench.commands import add_result_arguments
from workbench.layer_selection import parse_layers


def register(subparsers) -> None:
    parser = subparsers.add_parser("probe", help="fit a probe per layer and role; held-out AUROC per layer")
    parser.add_argument("run", help="run directory (from `workbench collect`)")
    parser.add_argument("--roles", nargs="+", default=["confidence_slot", "answer_last"],
                        help="position roles to probe, or 'all'")
    parser.add_argument("--layers", type=parse_layers, default="all", help="'all' or indices such as 0,8,-1")
    parser.add_argument("--folds", type=int, default=5, help="grouped (by question) cross-validation folds")
    parser.add_argument("--seeds", type=int, default=5,
                        help="number of split seeds (default 5); 2 or more also writes the replication result "
                             "(AUROC sd and distribution shape across seeds); 1 is five times faster")
    parser.add_argument("--probes", nargs="+", default=["logistic", "diffmeans"], choices=["logistic", "diffmeans"])
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap resamples for the intervals")
    parser.add_argument("--no-weights", action="store_true", help="do not save probe weights")
    add_result_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench.analyses.probe_layers import probe_layers
    from workbench.analyses.replication import replication
    from workbench.errors import WorkbenchError
    from workbench.figures.run_report import write_report
    from workbench.store import open_run

    if args.seeds < 1:
        raise WorkbenchError(f"--seeds must be at least 1, got {args.seeds}")
    target = open_run(args.run)
    roles = "all" if args.roles == ["all"] else args.roles
    result = probe_layers(target, roles, args.layers, folds=args.folds, seeds=range(args.seeds), probes=args.probes,
                          n_boot=args.boot, save_weights=not args.no_weights,
                          allow_incomplete=args.allow_incomplete, overwrite=args.overwrite)
    table = result["layers"]
    for best in result.manifest["best"]:
        print(f"{best['probe']:>9} probe, {best['role']}: peak at layer {best['layer']} ({best['hook']}) AUROC "
              f"{best['auroc']:.3f} [{best['low']:.3f}, {best['high']:.3f}]")
    skipped = table[table["status"] != "ok"]
    for row in skipped.itertuples():
        print(f"layer {row.layer} ({row.role}, {row.probe}): {row.status}")
    if args.seeds >= 2:
        rep = replication(target, result, allow_incomplete=args.allow_incomplete, overwrite=args.overwrite)["layers"]
        print(f"replication over {args.seeds} seeds: AUROC sd per layer median {rep['auroc_sd'].median():.3f}, "
              f"histogram W1 median {rep['shape_w1_mean'].median():.3f}")
    print(f"results: {result.path}\nreport: {write_report(target, allow_incomplete=args.allow_incomplete)}")
    return 0
