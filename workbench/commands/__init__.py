"""CLI subcommands; each module defines ``register(subparsers)`` (discovered by ``workbench.cli``)."""


def add_result_arguments(parser, *, overwrite: bool = True) -> None:
    """``--allow-incomplete`` and ``--overwrite``: the options every analysis command shares (store.results)."""
    parser.add_argument("--allow-incomplete", action="store_true",
                        help="analyse a run whose collect did not finish (the result records that it was incomplete)")
    if overwrite:
        parser.add_argument("--overwrite", action="store_true",
                            help="recompute and replace the stored result of this same config (results of other "
                                 "configs are kept either way)")
