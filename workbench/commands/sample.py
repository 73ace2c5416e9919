"""``workbench sample RUN``: the sampling channels (self-consistency, semantic entropy, P(True)) beside the run
(``wb.sample``)."""

from __future__ import annotations

import argparse

from workbench.cli_options import add_run_command, config_fields
from workbench.configs import SampleConfig
from workbench.errors import command_line


def register(subparsers) -> None:
    add_run_command(
        subparsers, "sample", run, SampleConfig,
        help="sampling channels: self-consistency, semantic entropy, P(True) (opt-in; costs ~k x collect's answer "
             "generation)",
        description="Opt-in and costly: per example, k sampled answers (about k times the answer generation of "
                    "`workbench collect`; the prompt forward is shared) plus one forward for P(True). Stored per "
                    "example beside the run, resumable; `workbench calibrate` then reports the three channels.")


def run(args: argparse.Namespace) -> int:
    from workbench import api

    config = SampleConfig(**config_fields(args, SampleConfig))  # bad flags fail before the run is read
    result = api.sample(args.run, config)
    table = result["samples"]
    columns = [c for c in ("self_consistency", "semantic_entropy", "p_true") if c in table]
    print(f"{len(table)} examples, k={config.k} at temperature {config.temperature}: mean "
          + ", ".join(f"{c} {table[c].mean():.3f}" for c in columns) + f"; {table['n_clusters'].mean():.2f} clusters")
    print(f"stored in {result.path}; run `{command_line('workbench', 'calibrate', args.run)}` to see them beside the "
          "other channels")
    return 0
