"""``workbench steer RUN``: add alpha x a probe direction at the confidence slot, layer by layer, beside random
directions of the same norm; dose-response result and figure stored beside the run."""

from __future__ import annotations

import argparse

from workbench.errors import WorkbenchError


def parse_floats(text: str) -> tuple[float, ...]:
    """'-1,-0.5,0,0.5,1' -> floats (an empty grid is refused by the config)."""
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise WorkbenchError(f"--alphas takes comma-separated numbers such as -1,-0.5,0,0.5,1; got {text!r}") from None


def parse_ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise WorkbenchError(f"--layers takes comma-separated stored layer indices such as 5,15,25; got {text!r}") from None


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "steer", help="steer along the probe direction at the confidence slot; dose-response vs random directions",
        description="Cost: one forward of each example's prompt, then per (layer, alpha, direction) a one-token "
                    "step, the vocabulary scoring and a 4-token decode; (1 + n-random) x layers x alphas "
                    "conditions in all.")
    parser.add_argument("run", help="run directory (from `workbench collect`)")
    parser.add_argument("--direction", default="probe", choices=("probe", "mean_diff"),
                        help="probe: the saved probe's weights (run `workbench probe` first); mean_diff: the "
                             "difference of class means of the stored residuals")
    parser.add_argument("--probe", default="logistic", choices=("logistic", "diffmeans"))
    parser.add_argument("--probe-run", default=None, help="take the direction from this run (default: RUN)")
    parser.add_argument("--layers", type=parse_ints, default=None, help="stored layer indices; default: four evenly spaced")
    parser.add_argument("--alphas", type=parse_floats, default=None,
                        help="comma-separated, in units of the mean residual norm at the slot (default -1,-0.5,-0.25,0,0.25,0.5,1); "
                             "write --alphas=-1,0,1 when the first is negative")
    parser.add_argument("--alpha-unit", default="residual_norm", choices=("residual_norm", "absolute"))
    parser.add_argument("--n-random", type=int, default=4, help="random control directions per layer")
    parser.add_argument("--limit", type=int, default=None, help="steer the first N examples only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap resamples over examples")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--backend", default=None, help="default: the run's backend")
    parser.add_argument("--device", default=None)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing result of another config")
    parser.add_argument("--no-figures", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench.analyses.steering import SteerConfig, steer
    from workbench.analyses.steering.runner import steering_plan
    from workbench.backends import load_model
    from workbench.store import open_run

    fields = dict(direction=args.direction, probe=args.probe, probe_run=args.probe_run, layers=args.layers,
                  alpha_unit=args.alpha_unit, n_random=args.n_random, limit=args.limit, seed=args.seed,
                  n_boot=args.boot, batch_size=args.batch_size)
    if args.alphas is not None:
        fields["alphas"] = args.alphas
    config = SteerConfig(**fields)
    target = open_run(args.run)
    steering_plan(target, config)  # bad layers and directions fail before the model loads
    backend = load_model(target.config["model"], device=args.device,
                         backend=args.backend or target.config.get("backend", "transformer_lens"))
    result = steer(target, config, backend=backend, overwrite=args.overwrite,
                   progress=lambda message: print(f"  {message}", flush=True))
    print(result.manifest["summary"]["layers"])
    print(result.manifest["summary"]["headline"])
    if not args.no_figures:
        from workbench.figures.steering import write_figures

        print(f"figures: {', '.join(map(str, write_figures(result, result.path / 'figures')))}")
    print(f"results in {result.path}")
    return 0
