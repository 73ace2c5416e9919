"""``workbench probe RUN``: probes per read-out (and replication across seeds), results and figures beside the run."""

from __future__ import annotations

import argparse

from workbench.cli_options import add_run_command, config_fields
from workbench.configs import ProbeConfig


def register(subparsers) -> None:
    add_run_command(subparsers, "probe", run, ProbeConfig,
                    help="fit a probe per read-out and role; held-out AUROC per read-out")


def run(args: argparse.Namespace) -> int:
    from workbench import api
    from workbench.figures.run_report import write_report
    from workbench.store import open_run
    from workbench.store.results import read_result

    config = ProbeConfig(**config_fields(args, ProbeConfig))  # bad flags fail before the run is read
    target = open_run(args.run)
    result = api.probe(target, config)
    table = result["layers"]
    for best in result.manifest["best"]:
        print(f"{best['probe']:>9} probe, {best['role']}: peak at layer {best['layer']} ({best['hook']}) AUROC "
              f"{best['auroc']:.3f} [{best['low']:.3f}, {best['high']:.3f}]")
    for row in table[table["status"] != "ok"].itertuples():
        print(f"layer {row.layer} ({row.role}, {row.probe}): {row.status}")
    seeds = len(result.config["seeds"])
    if seeds >= 2:
        rep = read_result(target.path / "results" / "replication")["layers"]
        print(f"replication over {seeds} seeds: AUROC sd per layer median {rep['auroc_sd'].median():.3f}, "
              f"histogram W1 median {rep['shape_w1_mean'].median():.3f}")
    print(f"results: {result.path}\nreport: {write_report(target, allow_incomplete=config.allow_incomplete)}")
    return 0
