"""CLI subcommands; each module defines ``register(subparsers)`` (discovered by ``workbench.cli``)."""
