"""``workbench finetune RUN``: LoRA-tune the verbal confidence toward a probe (or a baseline target).

Without ``--eval``: train the adapter(s) and stop. With ``--eval SPLIT=RUN`` (base-model runs of held-out
items): also the baselines, the before/after table and figure, cross-model patching and the seeds summary.
"""

from __future__ import annotations

import argparse

from workbench.commands import add_result_arguments


def parse_eval(text: str) -> tuple[str, str]:
    """``SPLIT=RUN_DIR`` (or just ``RUN_DIR``, named after its folder)."""
    split, sep, path = text.partition("=")
    if not sep:
        from pathlib import Path

        return Path(text).name, text
    if not split or not path:
        raise argparse.ArgumentTypeError(f"--eval takes SPLIT=RUN_DIR, got {text!r}")
    return split, path


def register(subparsers) -> None:
    from dataclasses import fields
    from types import SimpleNamespace

    from workbench.finetune.runner import BASELINES
    from workbench.finetune.targets import TARGETS
    from workbench.finetune.train import OBJECTIVES, FinetuneConfig

    d = SimpleNamespace(**{f.name: f.default for f in fields(FinetuneConfig)})
    parser = subparsers.add_parser("finetune", help="LoRA-tune the verbal confidence toward what a probe knows")
    parser.add_argument("run", help="training run directory (base model, from `workbench collect`)")
    parser.add_argument("--probe", help="LAYER/ROLE of the run's saved probe (e.g. 18/confidence_slot) or a probe file")
    parser.add_argument("--target", default=d.target, choices=TARGETS)
    parser.add_argument("--objective", default=d.objective, choices=OBJECTIVES,
                        help="confidence (match the target) or answer (standard fine-tuning on gold answers)")
    parser.add_argument("--rank", type=int, default=d.rank)
    parser.add_argument("--steps", type=int, default=d.steps)
    parser.add_argument("--seed", type=int, nargs="+", default=[d.seed],
                        help="training seed(s); several also write the replication summary")
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--width", type=float, default=d.width, help="sd of the target Gaussian in points (0: one-hot)")
    parser.add_argument("--answer-kl", type=float, default=d.answer_kl, help="weight of the keep-the-answer KL term")
    parser.add_argument("--modules", nargs="+", default=list(d.target_modules), help="LoRA target modules")
    parser.add_argument("--min-per-class", type=int, default=d.min_per_class)
    parser.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    parser.add_argument("--device", default=None)
    parser.add_argument("--out", required=True, help="output directory (resumed when it holds the same config)")
    parser.add_argument("--eval", type=parse_eval, action="append", default=[], metavar="SPLIT=RUN",
                        help="base-model run of held-out items to evaluate on (repeat: heldout=..., ood=...)")
    parser.add_argument("--baselines", nargs="*", default=list(BASELINES), choices=BASELINES)
    parser.add_argument("--tolerance", type=float, default=0.02, help="largest accepted accuracy drop (absolute)")
    parser.add_argument("--no-patch", action="store_true", help="skip cross-model patching")
    parser.add_argument("--patch-pairs", type=int, default=24)
    add_result_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from workbench.analyses.inputs import require_complete
    from workbench.finetune.evaluate import format_comparison
    from workbench.finetune.runner import finetune_experiment
    from workbench.finetune.train import FinetuneConfig, train
    from workbench.store import open_run

    config = FinetuneConfig(objective=args.objective, target=args.target, probe=args.probe, rank=args.rank,
                            steps=args.steps, lr=args.lr, batch_size=args.batch_size, width=args.width,
                            answer_kl=args.answer_kl, target_modules=tuple(args.modules),
                            min_per_class=args.min_per_class, checkpoint_every=args.checkpoint_every,
                            device=args.device, seed=args.seed[0])
    train_run = open_run(args.run)
    require_complete(train_run, args.allow_incomplete)  # before training, also when no --eval is given
    out = Path(args.out)
    if not args.eval:
        for seed in args.seed:
            result = train(train_run, replace(config, seed=seed), out / f"{config.name}-seed{seed}")
            first, last = result.history[0]["loss"], result.history[-1]["loss"]
            print(f"adapter: {result.path} (step {result.manifest['step']}, loss {first:.3f} -> {last:.3f})")
        return 0
    eval_runs = {split: open_run(path) for split, path in args.eval}
    result = finetune_experiment(train_run, config, out, eval_runs=eval_runs, baselines=args.baselines,
                                 seeds=args.seed, tolerance=args.tolerance, patch=not args.no_patch,
                                 patch_pairs=args.patch_pairs, allow_incomplete=args.allow_incomplete,
                                 overwrite=args.overwrite)
    print(format_comparison(result["comparison"]))
    if "seed_summary" in result.tables:
        print(result["seed_summary"].to_string(index=False))
    if "patch_gradient" in result.tables:
        print(result["patch_gradient"]["description"].iloc[0])
    from workbench.figures.finetune import write_finetune_page

    print(f"results: {result.path}\nfigures: {write_finetune_page(result)}")
    return 0
