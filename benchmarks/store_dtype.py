"""What storing the residuals in float16 or bfloat16 does to the probes: the demo's layer-wise probe AUROCs from a
float32 run and from the same residuals as ``collect --store-dtype`` would store them.

    python benchmarks/store_dtype.py --run runs/demo [--dtypes float16,bfloat16] [--seeds 1] [--smoke]
    python benchmarks/store_dtype.py                  # collects the demo's run first (SmolLM2, 300 items, seed 0)

``collect`` computes the residuals in the model's dtype, then casts them to the store dtype as the run is written
(``workbench.store.run_store.stored_tensor``), so a float32 run recast shard by shard holds exactly what a collect of
that store dtype stores: no model runs here when ``--run`` is given. The probes are the demo's (logistic,
``confidence_slot`` and ``answer_last``, every read-out, as many folds as the classes allow, ``--seeds`` split seeds).
Per dtype: the largest |AUROC difference| from float32 over every (role, read-out), the best read-out and its
AUROC, the largest |residual difference| relative to the largest |residual|, and the bytes of the residual shards; a
dtype that cannot hold the residuals is reported refused, with the store's reason. Ends with one JSON line.
``--smoke``: few bootstrap resamples, for the test suite (tests/benchmarks), whose numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np
from safetensors import safe_open
from safetensors.torch import save_file

ROLES = ("confidence_slot", "answer_last")  # = workbench.demo.DEMO_ROLES
SMOKE = {"n_boot": 10}


def recast(run, dtype: str, out: Path):
    """A copy of ``run`` (records, manifest) whose residual shards hold what ``--store-dtype dtype`` stores."""
    from workbench.store import open_run
    from workbench.store.run_store import MANIFEST, stored_tensor

    (out / "activations").mkdir(parents=True)
    shutil.copytree(run.path / "records", out / "records")
    for shard in run.manifest["shards"]:
        name = f"{shard['name']}.safetensors"
        with safe_open(run.path / "activations" / name, framework="pt") as handle:
            values = handle.get_tensor("resid").float().numpy()
        save_file({"resid": stored_tensor(values, dtype, shard["start"], run.stored_readouts)},
                  out / "activations" / name)
    (out / MANIFEST).write_text(json.dumps({**run.manifest, "dtype": dtype}))
    return open_run(out)


def probe_table(run, seeds: int, n_boot: int):
    """The demo's probes on ``run``: AUROC per (role, read-out), logistic."""
    from workbench.analyses.probe_layers import probe_layers
    from workbench.analyses.summary import adapt_folds

    result = probe_layers(run, [r for r in ROLES if r in run.roles], "all", folds=adapt_folds(run),
                          seeds=tuple(range(seeds)), probes=("logistic",), n_boot=n_boot, save_weights=False)
    return result.tables["layers"].set_index(["role", "layer"])["auroc"].sort_index()


def shard_bytes(run) -> int:
    return sum((run.path / "activations" / f"{s['name']}.safetensors").stat().st_size for s in run.manifest["shards"])


def main(argv: list[str] | None = None) -> None:
    from workbench.collect import collect
    from workbench.errors import WorkbenchError
    from workbench.store import open_run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=None, help="a float32 run (default: collect the demo's run first)")
    parser.add_argument("--model", default="smollm2-135m-instruct", help="model collected without --run")
    parser.add_argument("--items", type=int, default=300, help="items collected without --run (the demo's 300)")
    parser.add_argument("--dtypes", default="float16,bfloat16")
    parser.add_argument("--seeds", type=int, default=1, help="probe split seeds (the demo's one)")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--smoke", action="store_true", help=f"a tiny size for the test suite: {SMOKE}")
    args = parser.parse_args(argv)
    if args.smoke:  # smoke sizes as defaults, so an explicit option still wins
        parser.set_defaults(**SMOKE)
        args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = open_run(args.run) if args.run else collect(out=tmp / "run", model=args.model, limit=args.items,
                                                           seed=0, progress=False)
        if run.manifest["dtype"] != "float32":
            raise SystemExit(f"{run.path} stores {run.manifest['dtype']}: the comparison needs a float32 run")
        run = recast(run, "float32", tmp / "float32")  # probes write beside their run: never into the user's
        base = probe_table(run, args.seeds, args.n_boot)
        top = base.idxmax()
        result = {"benchmark": "store_dtype", "run": args.run or f"collected: {args.model}, {args.items} items",
                  "n": run.n_examples,
                  "float32": {"best": [top[0], int(top[1])], "best_auroc": float(base[top]), "bytes": shard_bytes(run)}}
        print(f"float32: best AUROC {base[top]:.4f} at {top}; residual shards {shard_bytes(run) / 1e6:.1f} MB")
        scale = max(float(np.abs(run.residuals(r, role)).max()) for r in run.stored_readouts for role in run.roles)
        for dtype in args.dtypes.split(","):
            try:
                copy = recast(run, dtype, tmp / dtype)
            except WorkbenchError as error:
                result[dtype] = {"refused": str(error)}
                print(f"{dtype}: refused: {error}")
                continue
            table = probe_table(copy, args.seeds, args.n_boot)
            best = table.idxmax()
            resid = max(float(np.abs(copy.residuals(r, role) - run.residuals(r, role)).max())
                        for r in run.stored_readouts for role in run.roles)
            result[dtype] = {"max_abs_auroc_diff": float((table - base).abs().max()), "best": [best[0], int(best[1])],
                             "best_auroc": float(table[best]), "max_rel_resid_diff": resid / scale,
                             "bytes": shard_bytes(copy)}
            print(f"{dtype}: max |AUROC - float32's| {result[dtype]['max_abs_auroc_diff']:.2e}; best AUROC "
                  f"{table[best]:.4f} at {best}; max |residual difference| / max |residual| {resid / scale:.1e}; "
                  f"residual shards {shard_bytes(copy) / 1e6:.1f} MB")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
