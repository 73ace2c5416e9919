"""``workbench calibrate RUN``: every confidence channel side by side (discrimination, calibration, validity
screen) and calibration on known vs unknown items; results and figures beside the run."""

from __future__ import annotations

import argparse

from workbench.cli_options import add_run_command, config_fields
from workbench.configs import CalibrateConfig


def register(subparsers) -> None:
    add_run_command(subparsers, "calibrate", run, CalibrateConfig,
                    help="calibration, discrimination and validity of every channel",
                    run_help="run directory (the probe channel is included after `workbench probe`)")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from workbench import api
    from workbench.analyses.summary import format_channels
    from workbench.figures.run_report import write_report
    from workbench.store import open_run
    from workbench.store.results import read_result

    config = CalibrateConfig(**config_fields(args, CalibrateConfig))  # bad flags fail before the run is read
    target = open_run(args.run)
    result = api.calibrate(target, config)
    print(format_channels(result["channels"]))
    validity = result["validity"][["channel", "n", "ceiling_rate", "trin", "sparsity", "r", "tier", "reasons"]]
    print(f"validity screen ({config.validity}):")
    print(validity.to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="undefined"))  # reasons say why
    paths = [str(result.path)]
    if config.prior_knowledge:
        prior = read_result(target.path / "results" / "prior_knowledge")
        print(f"prior knowledge (known: P(gold) > {prior.config['threshold']:g}):")
        with pd.option_context("display.width", 200):
            print(prior["contrast"].to_string(index=False, float_format=lambda v: f"{v:+.3f}", na_rep="undefined"))
        paths.append(str(prior.path))
    print(f"results: {', '.join(paths)}\nreport: {write_report(target, allow_incomplete=config.allow_incomplete)}")
    return 0
