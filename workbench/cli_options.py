"""Command-line options generated from the stage configs: one flag per field, its help text and default shown.

A flag not given is not passed on, so the verb's default — the config's — applies; the CLI never holds a
default of its own (``overrides`` excepted, e.g. the demo's larger ``limit``). Values go through the
field's kind (``workbench.configs.kinds``), so ``--layers 10-20`` and ``layers="10-20"`` mean the same, and a
bad value gets the config's one error, worded with the flag (``--folds: must be ...``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

from workbench.configs.base import ConfigError, StageConfig, extra, flags_of, kind_of

RUN_HELP = "run directory (from `workbench collect`)"


def add_run_command(subparsers: Any, name: str, run: Callable[[argparse.Namespace], int], *configs: type[StageConfig],
                    help: str, run_help: str = RUN_HELP, **parser_options: Any) -> argparse.ArgumentParser:
    """The subcommand ``workbench NAME RUN`` of an analysis: the positional RUN, then one option per field of
    ``configs``; it calls ``run(args)``."""
    parser = subparsers.add_parser(name, help=help, **parser_options)
    parser.add_argument("run", help=run_help)
    add_config_options(parser, *configs)
    parser.set_defaults(func=run)
    return parser


def shown(value: Any, none_word: str | None = None) -> str:
    """A default as it would be typed."""
    if value is None:
        return none_word or "none"
    if isinstance(value, (tuple, list)):
        return " ".join(map(str, value)) if value else "none"
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items()) or "none"
    return str(value)


def add_config_options(parser: argparse.ArgumentParser, *configs: type[StageConfig], skip: tuple[str, ...] = (),
                       overrides: Mapping[str, Any] | None = None) -> None:
    """One option per field of ``configs`` (the first config's field wins a shared name)."""
    overrides = dict(overrides or {})
    flag_of_field: dict[str, str] = dict(parser.get_default("_flags") or {})
    for cls in configs:
        for name, info in cls.model_fields.items():
            if name in skip or name in flag_of_field or not extra(info, "cli", True):
                continue
            kind = kind_of(info)
            default = overrides.get(name, info.default)
            given_default = overrides.get(name, argparse.SUPPRESS)
            flags = flags_of(name, info)
            help_text = info.description or name
            if isinstance(info.default, bool):
                state = "on" if default else "off"
                what = f"turns off: {help_text}" if info.default else help_text
                parser.add_argument(*flags, dest=name, action="store_const", const=not info.default,
                                    default=given_default, help=f"{what} (default: {state})")
            else:
                choices = kind.choices() if kind is not None and kind.choices is not None else None
                listed = f"; one of: {', '.join(choices)}" if choices else ""
                many = dict(nargs="*" if kind.empty else "+", action="extend") if kind is not None and kind.many else {}
                said = f"(default: {shown(default, kind and kind.none_word)})"
                if "(default: " in help_text and name not in overrides:  # the help says what the default means
                    help_text, _, rest = help_text.partition("(default: ")
                    help_text, said = help_text.rstrip(), f"(default: {rest}"
                parser.add_argument(*flags, dest=name, default=given_default, metavar=kind.metavar if kind else None,
                                    help=f"{help_text}{listed} {said}", **many)
            flag_of_field[name] = flags[0]
        for old in cls.RENAMED:  # the old flag still works (hidden; the config warns that it is renamed)
            parser.add_argument(f"--{old.replace('_', '-')}", dest=old, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    parser.set_defaults(_flags=flag_of_field)


def config_fields(args: argparse.Namespace, *configs: type[StageConfig]) -> dict[str, Any]:
    """The fields the user gave (or the parser overrode), as the configs' kinds read them."""
    out: dict[str, Any] = {}
    for cls in configs:
        renamed = {old: cls.model_fields[new[0]] for old, new in cls.RENAMED.items()}
        for name, info in {**cls.model_fields, **renamed}.items():
            if name in out or not hasattr(args, name) or name == "run":
                continue
            value = getattr(args, name)
            kind = kind_of(info)
            if kind is not None and isinstance(value, (str, list)) and not isinstance(info.default, bool):
                value = kind.from_text(value)
            out[name] = value
    return out


def flag_error(error: ConfigError, args: argparse.Namespace) -> str:
    """A config error worded with the flag that set the value (``--folds: ...``), when there is one."""
    field = error.path.split(".")[-1].split("[")[0] if error.path else ""
    flag = (getattr(args, "_flags", None) or {}).get(field)
    if flag is None:
        return str(error)
    return f"{flag}: {error.problem}{error.got}"
