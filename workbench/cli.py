"""The ``workbench`` command: subcommands discovered in ``workbench.commands``, each a thin caller of a verb of
``workbench.api`` (or ``workbench.studies``) with options generated from its config (``workbench.cli_options``).

``main(argv)`` returns an exit code so tests call it directly. A ``WorkbenchError`` prints one line, no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import pkgutil
import sys
import warnings
from collections.abc import Iterator, Sequence

import workbench.commands
from workbench.cli_options import flag_error
from workbench.configs import ConfigError
from workbench.errors import WorkbenchError, WorkbenchWarning


def package_version() -> str:
    """The installed package's version (the source tree's when it is not installed)."""
    from importlib import metadata

    try:
        return metadata.version("confidence-workbench")
    except metadata.PackageNotFoundError:
        from workbench import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description="Does the model know when it is wrong?")
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(workbench.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"workbench.commands.{info.name}")
        module.register(subparsers)  # each adds a parser and sets func=callable(args) -> int
    return parser


@contextlib.contextmanager
def one_line_warnings(command: str) -> Iterator[None]:
    """Inside: every ``WorkbenchWarning`` is shown, once, as one line on stderr; other warnings as usual."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", WorkbenchWarning)
        shown, said = warnings.showwarning, set()

        def show(message, category, *rest, **kwargs):
            if issubclass(category, WorkbenchWarning):
                if str(message) not in said:  # a command's stages may each warn of the same thing
                    said.add(str(message))
                    print(f"workbench {command}: warning: {message}", file=sys.stderr)
            else:
                shown(message, category, *rest, **kwargs)

        warnings.showwarning = show
        yield


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # our own progress bars are enough on a terminal
    try:
        with one_line_warnings(args.command):
            return int(args.func(args) or 0)
    except ConfigError as error:
        print(f"workbench {args.command}: error: {flag_error(error, args)}", file=sys.stderr)
        return 2
    except WorkbenchError as error:
        print(f"workbench {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"workbench {args.command}: interrupted; what was stored so far is kept (re-run to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
