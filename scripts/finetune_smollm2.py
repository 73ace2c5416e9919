"""Reproduce the fine-tuning before/after table on SmolLM2-135M-Instruct, on a CPU.

    .venv/bin/python scripts/finetune_smollm2.py [--out runs/finetune-smollm2] [--stage base|all]

Stages (each stored, so a re-run resumes where the last one stopped):

1. ``base``: split the built-in items: capitals (the only family SmolLM2-135M gets right often enough
   to have both classes) into disjoint training and held-out items, and ``elements`` as the
   out-of-distribution family; collect the three with the base model; fit probes on the training run.
2. ``all``: then, through ``workbench.finetune.runner.finetune_experiment`` (what ``workbench finetune``
   calls): fine-tune toward the best confidence-slot probe, and the baselines (correctness, constant,
   standard answer fine-tuning); merge each adapter, re-collect the held-out and OOD items with it, and
   compare; cross-model patching of the probe-target model into the base model; extra training seeds
   evaluated on the held-out items. Prints the tables that docs/finetune.md quotes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing


def base_stage(out: Path, args) -> dict:
    from workbench.analyses.probe_layers import probe_layers
    from workbench.collect import collect
    from workbench.finetune.data import split_items, write_items
    from workbench.store import open_run
    from workbench.store.results import latest_dir, read_result, result_dir

    items = split_items("all", ood_family="elements", families=["capitals/"], n_train=args.n_train,
                        n_heldout=args.n_heldout, n_ood=args.n_ood, seed=0)
    runs = {}
    for split, chosen in items.items():
        path = out / "items" / f"{split}.jsonl"
        if not path.exists():
            write_items(chosen, path)
        start = time.time()
        runs[split] = collect(out=out / "base" / split, dataset=str(path), limit=None, batch_size=args.batch_size)
        frame = runs[split].records
        print(f"base {split}: {len(frame)} items, {int(frame['correct'].sum())} correct "
              f"({time.time() - start:.0f} s)", flush=True)
    train = open_run(out / "base" / "train")
    probes_dir = result_dir(train.path, "probes")
    if latest_dir(probes_dir) is None:
        probe_layers(train, "confidence_slot", "all", folds=5, seeds=(0,), probes=("logistic",), n_boot=500)
    best = [b for b in read_result(probes_dir).manifest["best"] if b["probe"] == "logistic"][0]
    print(f"best confidence-slot probe: layer {best['layer']} AUROC {best['auroc']:.3f} "
          f"[{best['low']:.3f}, {best['high']:.3f}] (5-fold, by question)", flush=True)
    return {"runs": runs, "probe": f"{best['layer']}/confidence_slot", "best": best}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/finetune-smollm2")
    parser.add_argument("--stage", default="all", choices=("base", "all"))
    parser.add_argument("--n-train", type=int, default=150)
    parser.add_argument("--n-heldout", type=int, default=60)
    parser.add_argument("--n-ood", type=int, default=50)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=5, help="training seeds of the probe-target model")
    parser.add_argument("--batch-size", type=int, default=16, help="collect batch size")
    parser.add_argument("--patch-pairs", type=int, default=24)
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    out = Path(args.out)
    base = base_stage(out, args)
    if args.stage == "base":
        return 0

    from workbench.finetune.evaluate import format_comparison
    from workbench.finetune.runner import finetune_experiment
    from workbench.finetune.train import FinetuneConfig

    config = FinetuneConfig(target="probe", probe=base["probe"], rank=args.rank, steps=args.steps, lr=args.lr,
                            batch_size=8, seed=0)
    start = time.time()
    result = finetune_experiment(base["runs"]["train"], config, out / "finetune",
                                 eval_runs={"heldout": base["runs"]["heldout"], "ood": base["runs"]["ood"]},
                                 baselines=("correctness", "constant", "standard"), seeds=range(args.seeds),
                                 patch=True, patch_pairs=args.patch_pairs)
    print(f"\nfine-tuning experiment done in {time.time() - start:.0f} s; results: {result.path}\n")
    print(format_comparison(result["comparison"]))
    for name in ("seed_summary", "patch_gradient", "patch_controls"):
        if name in result.tables:
            print(f"\n{name}:\n{result[name].to_string(index=False)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
