"""``workbench bottleneck RUN``: softmax expected value vs argmax, and the logit lens per read-out."""

from __future__ import annotations

import argparse

from workbench.cli_options import add_run_command, config_fields
from workbench.configs import BottleneckConfig


def register(subparsers) -> None:
    add_run_command(subparsers, "bottleneck", run, BottleneckConfig,
                    help="is the confidence signal lost at the text? (and where, by read-out)")


def run(args: argparse.Namespace) -> int:
    from workbench import api
    from workbench.figures.run_report import write_report
    from workbench.store import open_run

    config = BottleneckConfig(**config_fields(args, BottleneckConfig))  # bad flags fail before the run is read
    target = open_run(args.run)
    result = api.bottleneck(target, config)
    s = result["summary"].iloc[0]
    print(f"AUROC softmax expected {s['auroc_softmax']:.3f} [{s['auroc_softmax_low']:.3f}, {s['auroc_softmax_high']:.3f}]"
          f", argmax {s['auroc_argmax']:.3f} [{s['auroc_argmax_low']:.3f}, {s['auroc_argmax_high']:.3f}]")
    print(f"difference {s['difference']:+.3f} [{s['difference_low']:+.3f}, {s['difference_high']:+.3f}]; argmax is "
          f"{s['argmax_modal_value']:g} for {s['argmax_modal_share']:.0%} of examples ({s['argmax_distinct']} values)")
    print(f"verdict: {s['verdict']}")
    if "lens_peak_layer" in s:
        print(f"logit lens: peak at layer {int(s['lens_peak_layer'])} AUROC {s['lens_peak_auroc']:.3f}, last layer "
              f"{s['lens_final_auroc']:.3f} (lost {s['lens_lost']:+.3f})")
    print(f"results: {result.path}\nreport: {write_report(target, allow_incomplete=config.allow_incomplete)}")
    return 0
