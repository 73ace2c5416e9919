"""``workbench patch RUN``: activation patching sweep, controls and attribution, stored beside the run."""

from __future__ import annotations

import argparse

from workbench.errors import WorkbenchError
from workbench.layer_selection import parse_layers

PAIR_CHOICES = ("correct-to-incorrect", "incorrect-to-correct", "random", "cross-model")
SITE_CHOICES = ("resid_pre", "resid_post", "attn_out", "mlp_out")


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def register(subparsers) -> None:
    parser = subparsers.add_parser("patch", help="patch states between runs layer by layer; effects, rho, controls")
    parser.add_argument("run", help="run directory (from `workbench collect`)")
    parser.add_argument("--pairs", default="correct-to-incorrect", choices=PAIR_CHOICES)
    parser.add_argument("--site", default="resid_pre", choices=SITE_CHOICES)
    parser.add_argument("--layers", default="all", help="'all', '5', '0,4,8' or '10-20'")
    parser.add_argument("--roles", default="confidence_slot", help="comma-separated position roles")
    parser.add_argument("--metric", default="shift",
                        help="shift | normalised_shift | logit_diff | kl | expected (the table holds all of them)")
    parser.add_argument("--levels", default=None, help="two confidence strings for logit_diff, e.g. '90,10'")
    parser.add_argument("--n-pairs", type=int, default=None, help="default: one pair per target example")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--method", default="auto", choices=("auto", "fast", "reference"))
    parser.add_argument("--controls", default="reverse,off_position,random", help="comma-separated, or 'none'")
    parser.add_argument("--no-attribution", action="store_true", help="skip attribution patching")
    parser.add_argument("--source-run", default=None, help="cross-model: the fine-tuned model's run (source)")
    parser.add_argument("--backend", default=None, help="default: the run's backend")
    parser.add_argument("--device", default=None)
    parser.add_argument("--chunk-pairs", type=int, default=16, help="pairs per stored chunk (resume granularity)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing result of another config")
    parser.add_argument("--no-figures", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench.analyses.patching.runner import PatchConfig, run_patching
    from workbench.analyses.patching.sweep import resolve_layers
    from workbench.backends import load_model
    from workbench.store import open_run

    levels = _csv(args.levels) if args.levels else None
    if levels is not None and len(levels) != 2:
        raise WorkbenchError(f"--levels takes two confidence strings, e.g. '90,10'; got {args.levels!r}")
    controls = () if args.controls == "none" else _csv(args.controls)
    config = PatchConfig(pairs=args.pairs, site=args.site, layers=parse_layers(args.layers), roles=_csv(args.roles),
                         metric=args.metric, levels=levels, n_pairs=args.n_pairs, seed=args.seed,
                         method=args.method, controls=controls, attribution=not args.no_attribution,
                         source_run=args.source_run, chunk_pairs=args.chunk_pairs)
    if args.pairs == "cross-model" and not args.source_run:
        raise WorkbenchError("--pairs cross-model needs --source-run (the fine-tuned model's run)")
    target = open_run(args.run)
    resolve_layers(config.layers, target.n_blocks)  # bad layers fail before the model loads
    backend = load_model(target.config["model"], device=args.device,
                         backend=args.backend or target.config.get("backend", "transformer_lens"))
    source_backend = None
    if args.source_run:
        source = open_run(args.source_run)
        source_backend = load_model(source.config["model"], backend=args.backend or source.config.get("backend",
                                    "transformer_lens"), device=args.device)
    result = run_patching(target, config, backend=backend, source_backend=source_backend, overwrite=args.overwrite,
                          figures=not args.no_figures, progress=lambda message: print(f"  {message}", flush=True))
    summary = result.manifest.get("summary", {})
    print(summary.get("pairs_note", ""))
    if summary.get("notes"):
        print(f"note: {summary['notes']}")
    if summary.get("gradient"):
        print(summary["gradient"])
    if "controls_summary" in result.tables:
        print(result["controls_summary"].to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    if "attribution_summary" in result.tables:
        a = result["attribution_summary"].iloc[0]
        print(f"attribution vs exact: Spearman per pair {a['spearman_per_pair_mean']:+.2f} (mean), "
              f"mean profile {a['spearman_profile']:+.2f}")
    print(f"results in {result.path}")
    return 0
