"""`vault` builds the parser of the command it was given only (vault.cli.parser.command_named,
`build_parser(only=...)`): every command line parses to what the whole parser makes of it, and
what the whole parser refuses is refused alike, with the same message."""

from __future__ import annotations

import contextlib
import io

import pytest

from vault.cli.parser import build_parser, command_named

LINES = [
    ["ls"],
    ["ls", "--json", "--sort", "title", "--reverse", "--notebook", "Work", "--tag", "t"],
    ["--vault", "/tmp/v", "ls", "--trash"],
    ["--vault=/tmp/v", "--keyfile", "k", "show", "ls"],
    ["show", "abc", "--raw", "--keyfile", "k2"],
    ["show", "note", "--version", "3"],
    ["search", "a word", "--limit", "3"],
    ["search", "x", "--limit", "0"],
    ["new", "Title", "--notebook", "A/B", "--tag", "x", "--tag", "y", "--pin"],
    ["new"],
    ["ls", "--bogus"],
    ["ls", "--sort", "size"],
    ["notebook", "move", "a", "b"],
    ["notebook", "bogus"],
    ["tag", "rename", "a", "b"],
    ["config", "set", "k", "v"],
    ["attach", "n", "f1", "f2"],
    ["backup", "list"],
    ["remote", "show"],
    ["unlock", "--json"],
    ["links", "n"],
    ["lss"],
    ["--keyf", "ls", "show", "x"],
    ["--vault", "x", "--", "ls"],
    [],
    ["--version"],
]


def parsed(argv: list[str], only: str | None) -> tuple:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            args = build_parser(only).parse_args(argv)
        except SystemExit as exc:
            return ("exit", exc.code, err.getvalue(), out.getvalue())
    values = {k: v for k, v in vars(args).items() if k != "handler"}
    return ("ok", getattr(args.handler, "__name__", None), values)


@pytest.mark.parametrize("argv", LINES, ids=" ".join)
def test_one_command_parses_as_the_whole_parser(argv: list[str]) -> None:
    assert parsed(argv, command_named(argv)) == parsed(argv, None)


def test_which_command_is_named() -> None:
    assert command_named(["--vault", "v", "--keyfile=k", "show", "ls"]) == "show"
    # Shortenings argparse reads as --vault or --keyfile take their value, as it does.
    assert command_named(["--keyf", "ls", "show"]) == "show"
    assert command_named(["--vau=v", "ls"]) == "ls"
    assert command_named(["--v", "x", "ls"]) is None  # --vault or --version: argparse says
    assert command_named(["--ver", "ls"]) is None  # --version
    assert command_named(["-h"]) is None
    assert command_named([]) is None
