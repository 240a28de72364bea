"""The `vault` command, a face over the domain API (vault.notes.Vault).

`vault.cli.parser` holds the parser and the dispatch (`main`, the entry point); `vault.cli.common`
what every command shares; each `*_commands` module one family of commands (`*_arguments` the
arguments of those whose handlers load only when they run); `output` and `columns` print.
"""

from vault.cli.parser import build_parser, main

__all__ = ["build_parser", "main"]
