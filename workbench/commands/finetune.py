"""``workbench finetune RUN``: LoRA-tune the verbal confidence toward a probe (or a baseline target).

Without ``--eval``: train the adapter(s) and stop. With ``--eval SPLIT=RUN`` (base-model runs of held-out
items): also the baselines, the before/after table and figure, cross-model patching and the seeds summary.
"""

from __future__ import annotations

import argparse

from workbench.cli_options import add_run_command, config_fields
from workbench.configs import FinetuneConfig, FinetuneExperiment


def register(subparsers) -> None:
    parser = add_run_command(subparsers, "finetune", run, FinetuneConfig, FinetuneExperiment,
                             help="LoRA-tune the verbal confidence toward what a probe knows",
                             run_help="training run directory (base model, from `workbench collect`)")
    parser.add_argument("--out", required=True, help="output directory, resumed when it holds the same config "
                                                      "(required)")


def run(args: argparse.Namespace) -> int:
    from workbench import api

    result = api.finetune(args.run, args.out, **config_fields(args, FinetuneConfig, FinetuneExperiment))
    if result.manifest["analysis"] == "training":
        for row in result["adapters"].itertuples():
            print(f"adapter: {row.path} (step {row.step}, loss {row.first_loss:.3f} -> {row.last_loss:.3f})")
        return 0
    from workbench.figures.finetune import write_finetune_page
    from workbench.finetune.evaluate import format_comparison

    print(format_comparison(result["comparison"]))
    if "seed_summary" in result.tables:
        print(result["seed_summary"].to_string(index=False))
    if "patch_gradient" in result.tables:
        print(result["patch_gradient"]["description"].iloc[0])
    print(f"results: {result.path}\nfigures: {write_finetune_page(result)}")
    return 0
