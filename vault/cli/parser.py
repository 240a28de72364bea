"""The `vault` command: its parser and dispatch, a thin face over the domain API
(vault.notes.Vault). The commands live in the `*_commands` modules of this package.

Every failure a person can cause ends in one line on stderr and a non-zero exit, never a
traceback; unexpected errors show only their type and place, because their text might hold
decrypted content.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import itertools
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from vault import __version__
from vault.cli import output as cli_output
from vault.cli.common import NOTE_HELP, Handler, fmt_time, keyfile_arg, vault_dir
from vault.cli.note_commands import (
    cmd_edit,
    cmd_empty_trash,
    cmd_history,
    cmd_ls,
    cmd_new,
    cmd_restore,
    cmd_revert,
    cmd_rm,
    cmd_search,
    cmd_show,
)
from vault.cli.notebook_commands import cmd_notebook, cmd_notebooks, cmd_tag, cmd_tags
from vault.cli.vault_commands import (
    cmd_check,
    cmd_config,
    cmd_init,
    cmd_passwd,
    cmd_rekey,
    cmd_status,
)
from vault.config import Config
from vault.errors import VaultError
from vault.hardening import harden
from vault.notes import lookup
from vault.sealing.envelope import short
from vault.textsafe import visible

EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


def cmd_tui(args: argparse.Namespace, config: Config) -> int:
    try:
        from vault.tui.app import run_app
    except ImportError:
        build_parser().print_help()
        return 0
    return run_app(vault_path=vault_dir(args, config), config=config, keyfile=keyfile_arg(args))


# --- the parser ---------------------------------------------------------------------------


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {visible(text)}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _add_common_options(parser: argparse.ArgumentParser, default: Any) -> None:
    group = parser.add_argument_group("options of every command")
    for flag, metavar, help_ in (
        ("--vault", "DIR", "the vault folder (or set VAULT_DIR)"),
        ("--keyfile", "PATH", "keyfile, for vaults that need one (or VAULT_KEYFILE)"),
    ):
        with contextlib.suppress(argparse.ArgumentError):  # the command has its own
            group.add_argument(flag, metavar=metavar, default=default, help=help_)


class _Parser(argparse.ArgumentParser):
    """Every parser of the command line: an error quotes what was typed, which may hold any
    character, so its control characters are shown visibly (vault.textsafe), as everywhere."""

    def error(self, message: str) -> NoReturn:
        super().error(visible(message))


class CommandParser(_Parser):
    """The parser of a command (and of its actions, which argparse makes of the same class):
    it takes the options of every command too, so `vault init --keyfile PATH` works as well as
    `vault --keyfile PATH init`. Their default is SUPPRESS, so an option not repeated after the
    command keeps the value given before it. They are added when the parser is used, not to
    the forty parsers built for each run (that costs several milliseconds per command); a
    command's own definition of one (`clone --vault`) is kept."""

    _with_common = False

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if not self._with_common:
            self._with_common = True
            _add_common_options(self, argparse.SUPPRESS)
        return super().parse_known_args(args, namespace)


class _Skipped:
    """A command's parser not built in this run (`build_parser(only=...)`): whatever a
    command's definition calls on it does nothing."""

    epilog: str | None = None

    def __getattr__(self, name: str) -> Any:
        return self._nothing

    def _nothing(self, *args: Any, **kwargs: Any) -> _Skipped:
        return self


# Options of the whole command line that may come before the command (_add_common_options),
# and all its long options, to tell what a shortened one (`--vau DIR`) stands for.
_VALUED = ("--vault", "--keyfile")
_TOP_OPTIONS = (*_VALUED, "--version", "--help")


def command_named(argv: Sequence[str]) -> str | None:
    """The command `argv` names, when that is plain: only `--vault DIR` and `--keyfile PATH`
    (or argparse's shortenings of them) before it. None otherwise (no command, help...)."""
    at = _command_at(argv)
    return None if at is None else argv[at]


def _command_at(argv: Sequence[str]) -> int | None:
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-"):
            return i
        name, eq, _ = arg.partition("=")
        meant = [o for o in _TOP_OPTIONS if o.startswith(name)] if len(name) > 2 else []
        if len(meant) != 1 or meant[0] not in _VALUED:
            return None  # help, the version, an option argparse is to judge
        i += 1 if eq else 2
    return None


# The options of `vault search` that take a value (shortenings of them too, as argparse reads
# them): what follows one is its value, not a word of the query.
_SEARCH_VALUED = ("--limit", "--vault", "--keyfile")


def as_parsed(argv: Sequence[str]) -> list[str]:
    """`argv` as the parser is to read it. `vault search milk -oat --json`: the words of a
    query need no quotes, options may come among them, and a word may exclude (`-word`, as the
    query syntax says), which argparse would take for an option it does not know. A search's
    command line is read as its options, then `--`, then its words in the order typed (those
    after a `--` the person typed are words whatever they look like)."""
    at = _command_at(argv)
    if at is None or argv[at] != "search":
        return list(argv)
    rest = list(argv[at + 1 :])
    typed_words: list[str] = []
    if "--" in rest:
        cut = rest.index("--")
        rest, typed_words = rest[:cut], rest[cut + 1 :]
    options: list[str] = []
    words: list[str] = []
    given = iter(rest)
    for arg in given:
        if arg.startswith("--") or arg == "-h":
            options.append(arg)
            valued = len(arg) > 2 and any(v.startswith(arg) for v in _SEARCH_VALUED)
            if valued and "=" not in arg:
                options.extend(itertools.islice(given, 1))
        else:
            words.append(arg)
    return [*argv[: at + 1], *options, "--", *words, *typed_words]


class _TopParser(_Parser):
    """The parser of the whole command line. Words it cannot place are most often the rest of
    a title typed without quotes (`vault show Groceries list`): its error says so. A command
    it does not know gets the closest one, not the forty in one line."""

    commands: Sequence[str] = ()
    _typed: Sequence[str] = ()

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._typed = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        unplaced = message.removeprefix("unrecognized arguments:")
        if unplaced != message and not unplaced.lstrip().startswith("-"):  # (not an option)
            message += " (a title or name of several words goes in quotes)"
        at = _command_at(self._typed)
        if message.startswith("argument COMMAND: invalid choice:") and at is not None:
            from vault.notes.filing import closest_name  # (as for a notebook not found)

            typed = self._typed[at]
            close = closest_name(typed, self.commands)
            message = f"no command '{typed}'" + (f"; did you mean '{close}'?" if close else "")
            message += " (`vault --help` lists them)"
        super().error(message)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; with `only`, a command's name, the parser of that command
    alone (a run parses one command: the forty others took 5-8 ms of each run to build). A
    name that is no command gets the whole parser, so its error lists them."""
    built: list[str] = []
    parser = _TopParser(
        prog="vault",
        description="A personal, end-to-end encrypted notes vault. "
        "Run with no command to open the terminal app.",
    )
    parser.add_argument("--version", action="version", version=f"vault {__version__}")
    _add_common_options(parser, None)
    parser.set_defaults(handler=cmd_tui)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=CommandParser)

    def command(name: str, handler: Handler, help_: str, json_flag: bool = False) -> Any:
        if only is not None and name != only:
            return _Skipped()
        built.append(name)
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(handler=handler)
        if json_flag:
            p.add_argument("--json", action="store_true", help="machine-readable output")
        return p

    p = command("init", cmd_init, "create a new vault", json_flag=True)
    p.add_argument(
        "--insecure-test-kdf",
        action="store_true",
        help=argparse.SUPPRESS,  # tiny Argon2 parameters, only for tests
    )

    p = command("new", cmd_new, "add a note (body from stdin, or $EDITOR)", json_flag=True)
    p.add_argument("title")
    p.add_argument("--notebook", metavar="NB", help="notebook path such as Work/Projects")
    p.add_argument("--tag", metavar="T", action="append", help="a tag (repeatable)")
    p.add_argument("--pin", action="store_true", help="pin the note")
    p.add_argument("--no-edit", action="store_true", help="create with an empty body")
    p.add_argument(
        "--template", metavar="NAME", help="start from this template (a note in Templates)"
    )

    p = command("ls", cmd_ls, "list notes", json_flag=True)
    p.add_argument("--notebook", metavar="NB")
    p.add_argument("--tag", metavar="T")
    p.add_argument("--trash", action="store_true", help="list the trash")
    p.add_argument("--pinned", action="store_true", help="only pinned notes")
    p.add_argument(
        "--sort",
        choices=["modified", "created", "title"],
        default="modified",
        help="the order, newest first for times (default: modified; pinned notes first)",
    )
    p.add_argument("--reverse", action="store_true", help="the other way round (oldest first)")

    p = command("show", cmd_show, "print a note", json_flag=True)
    p.add_argument("note", help=NOTE_HELP)
    p.add_argument(
        "--raw",
        action="store_true",
        help="only the body, exactly as stored (escaped on a terminal)",
    )
    p.add_argument("--version", metavar="V", help="an older version (see `vault history`)")

    p = command("edit", cmd_edit, "edit a note's body ($EDITOR or stdin) or its details")
    p.add_argument("note", help=NOTE_HELP)
    p.add_argument("--title", metavar="T", help="rename (links to it follow)")
    p.add_argument(
        "--no-update-links", action="store_true", help="with --title: leave [[links]] as they are"
    )
    p.add_argument("--notebook", metavar="NB", help="move to notebook ('/' for the top level)")
    p.add_argument("--tag", metavar="T", action="append", help="add a tag")
    p.add_argument("--untag", metavar="T", action="append", help="remove a tag")
    p.add_argument("--pin", action="store_true")
    p.add_argument("--unpin", action="store_true")
    p.add_argument("--allow-empty", action="store_true", help="accept an empty body from stdin")

    p = command("rm", cmd_rm, "move a note to the trash (--purge deletes it for good)")
    p.add_argument("note", help=NOTE_HELP)
    p.add_argument("--purge", action="store_true")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask")

    p = command("restore", cmd_restore, "bring a note back from the trash")
    p.add_argument("note", help=NOTE_HELP)

    p = command("empty-trash", cmd_empty_trash, "delete every note in the trash for good")
    p.add_argument("--yes", "-y", action="store_true")

    p = command("search", cmd_search, "full-text search, best matches first", json_flag=True)
    p.epilog = "Exit status: 0 when something matches, 1 when nothing does (as grep)."
    p.add_argument(
        "query",
        nargs="+",
        metavar="WORD",
        help='words (all must match), "a phrase", -word, tag:name',
    )
    p.add_argument("--trash", action="store_true", help="search the trash")
    p.add_argument(
        "--limit", type=_positive, default=50, metavar="N", help="show N matches (default 50)"
    )
    p.add_argument("--all", action="store_true", help="show every match")

    p = command("history", cmd_history, "list a note's saved versions", json_flag=True)
    p.add_argument("note", help=NOTE_HELP)

    p = command("revert", cmd_revert, "make an older version the newest again")
    p.add_argument("note", help=NOTE_HELP)
    p.add_argument("version")

    command(
        "notebooks",
        cmd_notebooks,
        "list notebooks with their notes (sub-notebooks' included)",
        json_flag=True,
    )
    p = command("notebook", cmd_notebook, "create, rename, move or delete a notebook")
    nsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    nsub.add_parser("new", help="create (nested paths allowed)").add_argument("path")
    q = nsub.add_parser("rename", help="rename")
    q.add_argument("path")
    q.add_argument("name")
    q = nsub.add_parser("move", help="move under another notebook (none: the top level)")
    q.add_argument("path")
    q.add_argument("parent", nargs="?")
    q = nsub.add_parser("rm", help="delete; its notes go to the trash")
    q.add_argument("path")
    q.add_argument("--yes", "-y", action="store_true")

    command("tags", cmd_tags, "list tags", json_flag=True)
    p = command("tag", cmd_tag, "rename or remove a tag on every note")
    tsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = tsub.add_parser("rename", help="rename (a name in use merges the two tags)")
    q.add_argument("name")
    q.add_argument("new_name")
    tsub.add_parser("rm", help="remove from every note; the notes stay").add_argument("name")

    p = command("passwd", cmd_passwd, "change the password (or set one with the recovery key)")
    p.add_argument("--recovery", action="store_true", help="use the recovery key")
    p.add_argument("--new-keyfile", metavar="PATH", help="require this keyfile from now on")
    p.add_argument("--no-keyfile", action="store_true", help="stop requiring a keyfile")

    p = command(
        "rekey", cmd_rekey, "rotate the master key (re-encrypts everything)", json_flag=True
    )
    p.add_argument(
        "--offline",
        action="store_true",
        help="do not sync with the sync folder first (its newest changes are left behind)",
    )
    p.add_argument(
        "--new-folder",
        action="store_true",
        help="do not pass the new key to the other devices through the sync folder (for a "
        "leaked master key): they must be cloned anew from a new folder",
    )
    command(
        "check",
        cmd_check,
        "verify every version of every item and every attached file here",
        json_flag=True,
    )
    command("status", cmd_status, "where the vault is and how it is protected", json_flag=True)

    p = command("config", cmd_config, "show or change settings")
    csub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    csub.add_parser("path", help="print where the config file is")
    csub.add_parser("show", help="print every setting in effect")
    csub.add_parser("get", help="print one setting (sync.remote, ui.theme, ...)").add_argument(
        "key"
    )
    q = csub.add_parser("set", help="change one setting")
    q.add_argument("key")
    q.add_argument("value")
    csub.add_parser("unset", help="back to the default").add_argument("key")

    if only is None or not built:
        for module in _command_modules():
            module.register(sub, command)
    if only is not None and not built:
        return build_parser()  # not a command: the whole parser says so, listing them
    parser.commands = list(sub.choices)
    return parser


def _command_modules() -> list[Any]:
    """The other commands' arguments; each module has `register(subparsers, command)`, where
    `command(name, handler, help, json_flag)` adds one. Sync and backup name their handlers
    with `lazy`, and live outside the packages they drive, so building the parser imports
    neither. Imported here, not at the top, so `import vault.cli` imports none of them."""
    from vault.cli import (
        attachment_commands,
        backup_arguments,
        link_commands,
        session_commands,
        sync_arguments,
    )

    return [session_commands, sync_arguments, backup_arguments, link_commands, attachment_commands]


def _list_candidates(exc: lookup.AmbiguousNameError) -> None:
    """Several notes match the name given: which, so the person can name one by its id."""
    count = len(exc.candidates)
    lines = [f"vault: '{visible(exc.ref)}' matches {count} {exc.what}s; name one by its id:"]
    for c in exc.candidates[: lookup.MAX_LISTED]:
        title = visible(c.title)
        title = title if len(title) <= 60 else title[:59] + "…"
        when = f"  {fmt_time(c.modified)}" if c.modified else ""
        trash = "  (in the trash)" if c.in_trash else ""
        lines.append(f"  {short(c.id)}  {title}{when}{trash}")
    if count > lookup.MAX_LISTED:
        lines.append(f"  … and {count - lookup.MAX_LISTED} more")
    sys.stderr.write("\n".join(lines) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    harden()  # no core dump or same-user ptrace of a process that holds notes (SECURITY.md)
    os.umask(0o077)  # everything this process creates is private to its owner
    if argv is None:
        argv = sys.argv[1:]
    args = build_parser(command_named(argv)).parse_args(as_parsed(argv))
    args.command_line = list(argv)  # as typed (`vault unlock` foresees the `vault ls` after it)
    return run(args)


def _output_failure(exc: Exception) -> str | None:
    """Why the output could not be written, when that is what `exc` is: standard output closed
    when the command started (`>&-`: Python gives None, and printing fails on it), or a full
    disk under it. Every write of the vault's own files reports such errors
    as VaultErrors, so these reach here only from the output."""
    if isinstance(exc, AttributeError) and sys.stdout is None:
        return "the stream is closed"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return exc.strerror or "the stream failed"  # (only writing fills a disk)
    return None


def run(args: argparse.Namespace) -> int:
    """One parsed command, its failures turned into one line and an exit status (the session
    agent runs served commands through here too: vault.cli.served)."""
    try:
        config = Config.load()
        return int(args.handler(args, config) or 0)
    except lookup.AmbiguousNameError as exc:
        _list_candidates(exc)
        return exc.exit_code
    except VaultError as exc:
        sys.stderr.write(cli_output.error_line(str(exc)))
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("vault: interrupted; nothing half-saved (each change is atomic)\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush does not complain.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if os.environ.get("VAULT_DEBUG"):
            raise
        reason = _output_failure(exc)
        if reason is not None:  # as the thin client says it for a served command
            if sys.stderr is not None:
                with contextlib.suppress(OSError, ValueError):
                    sys.stderr.write(f"vault: cannot write the output: {reason}\n")
            return EXIT_INTERNAL
        # The message of an unexpected error might quote decrypted text: show only where it was.
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f"{Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}" if tb else "?"
        sys.stderr.write(
            f"vault: internal error ({type(exc).__name__} at {where}); please report it. "
            "Set VAULT_DEBUG=1 for details.\n"
        )
        return EXIT_INTERNAL
