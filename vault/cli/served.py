"""The session agent answers some `vault` commands itself: `ls`, `search`, `show`, `new`, `edit`,
`rm`, `restore`, `history`, `tags`, `notebooks`, `links`, `backlinks`, `rename`, `today`,
`conflicts`, `revert`, `tag`, `notebook`, `empty-trash` and `attachments` (`SERVED`).

This module is the command line's side of it: the agent's loop (vault.session.agent, in the layer
below the faces) knows no face; its process's entry point (vault.agent_main, above the faces)
imports this module when the agent is to open the vault ahead (`vault unlock`: `Service.preload`)
or at the first command it is asked to run, and hands the loop a `Service`; an agent the app
starts, never asked to serve, never imports the command line.

The thin client (`vault.session.thin`) sends the command line, the working folder, the
environment the command would read (never a password) and what its standard streams are
(terminals or not, their encoding, the terminal's size); the agent runs the command's own code
(`vault.cli.main`) with those, writing into memory, and sends back every byte written to stdout
and stderr, in order, with the exit status (as raw bytes after the reply's line, for a client
that asks for it: `framed`). The output is the normal path's by construction: same code, same
columns, same escaping of control characters, same errors. `vault ls` as a table is the one
shortcut: the agent keeps the rows of its last few tables (vault.cli.listing, made by the same
column code) and lays out again only the notes that changed since.

The agent keeps the vault open between commands (opened with the session's key at the first
served command), which is what makes them fast. It never serves stale data: every read of the
vault asks SQLite whether another connection committed (`data_version`) and decrypts what
changed, and before each command the agent checks that the store file is still the one it
opened (a restore or a clone replaces it) and reopens it otherwise. A vault rekeyed since is
not served (the normal path then ends the session, as it does today).

A command is declined (the client then runs it itself, as before) when its arguments do not
parse, when it names another vault than the session's, or when it would need a terminal
(`vault new`, `vault edit` or `vault today` opening the editor; `vault rm --purge`, `vault
empty-trash` or `vault notebook rm` asking to confirm; one conflict shown as a table as wide
as the terminal: the agent has no terminal, and its answer to "is there one" would not be
the caller's). This
module is imported by the agent only when a client asks it to serve, so an agent that is never
asked stays as small as before (docs/SECURITY.md).
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import gc
import hashlib
import io
import os
import sys
import time
from typing import Any

from vault import gcpause

SERVED = frozenset(
    {
        "ls", "search", "show", "new", "edit", "rm", "restore", "history", "tags", "notebooks",
        "links", "backlinks", "rename", "today", "conflicts", "revert", "tag", "notebook",
        "empty-trash", "attachments",
    }
)  # fmt: skip
# Secrets never travel to the agent (the client drops them too).
SECRET_VARS = frozenset({"VAULT_PASSWORD", "VAULT_NEW_PASSWORD", "VAULT_RECOVERY_KEY"})
# Encodings whose output is the same written at once or piece by piece (no BOM, no state).
PLAIN_CODECS = frozenset({"utf-8", "ascii", "iso8859-1"})
# The last facts of `_listing_facts`: the vault's contents; those before: how it is shown.
CONTENT_FACTS = 3
LISTINGS = 4  # `vault ls` tables kept (vault.cli.listing), each shown its own way
WARM_DELAY = 0.15  # seconds after a command before `idle` works for the next (see there)

# While a command runs: (real path, vault id, vault) of the resident vault, which
# vault.cli's opening of the vault takes instead of unlocking one (see `resident`).
_lent: tuple[str, str, Any] | None = None


def resident(path: os.PathLike[str] | str, vault_id: str) -> Any:
    """The vault the agent holds open, for the command it is running on that vault; None
    anywhere else (every normal `vault` process)."""
    if _lent is None:
        return None
    real, lent_id, vault = _lent
    if lent_id == vault_id and os.path.realpath(path) == real:
        return vault
    return None


def lent_here(path: os.PathLike[str] | str) -> Any:
    """The vault the agent holds open, for the command it is running on that vault's folder:
    the agent has checked it is still the session's (`Service._open`), so the command need not
    read the folder's header again. None anywhere else."""
    if _lent is None:
        return None
    real, _, vault = _lent
    return vault if os.path.realpath(path) == real else None


def socket_name(vault_id: str, real: str) -> str:
    """The agent's socket name for a vault (as vault.session.agent_client.socket_path)."""
    digest = hashlib.blake2b(f"{vault_id}\0{real}".encode(), digest_size=10).hexdigest()
    return f"agent-{digest}.sock"


class _Sink(io.BufferedIOBase):
    """One standard stream of the caller: each write is kept, in order with the other's."""

    def __init__(self, chunks: list[tuple[int, bytes]], fd: int, tty: bool) -> None:
        super().__init__()
        self._chunks = chunks
        self._fd = fd
        self._tty = tty

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._tty

    def write(self, data: Any) -> int:
        data = bytes(data)
        if data:
            self._chunks.append((self._fd, data))
        return len(data)


class _Input(io.BytesIO):
    def __init__(self, data: bytes, tty: bool) -> None:
        super().__init__(data)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


class Declined(Exception):
    """The command is not served here: the client runs it itself."""


class Service:
    """The vault held open by the agent, and the running of one command on it."""

    def __init__(self, socket_path: str, vault_id: str) -> None:
        self.socket_name = os.path.basename(socket_path)
        self.vault_id = vault_id
        self.vault: Any = None
        self.real = ""
        self.ident: tuple[int, int] | None = None
        self.parser: Any = None
        # The last `vault ls` answered: (everything its output depends on, the reply). A
        # repeat with nothing changed is answered from here, without listing 10,000 notes again.
        self.listed: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        # The rows of the last few `vault ls` tables (vault.cli.listing), by how they are
        # shown (the command line, the caller's environment...), for the next one shown the
        # same way to lay out only what changed.
        self.listings: dict[tuple[Any, ...], Any] = {}
        # `vault ls --json`: each listed note's document as written (`_json_listing`), by the
        # note object (kept with it: notes are replaced, never changed), and what they all
        # depend on besides (the time zone, the notebooks' paths). A listing after a change
        # writes only the changed notes' documents again.
        self.json_docs: dict[int, tuple[Any, str]] = {}
        self.json_context: tuple[Any, ...] | None = None
        self.answered_ahead = 0  # commands answered from `listed` (agent status, tests)
        self.ran = 0.0  # when the last command ended (time.monotonic)

    def close(self) -> None:
        self.listed = None  # decrypted titles: forgotten with the vault
        self.listings.clear()
        self.json_docs = {}
        self.json_context = None
        if self.vault is not None:
            with contextlib.suppress(Exception):
                self.vault.lock()
            self.vault = None
            gcpause.release()  # (`_open`) whatever is left is the collector's again

    def idle(self) -> None:
        """After a command and for a while after (vault.session.agent), while nobody waits:
        the vault brought up to date with what other processes committed, and the maps the
        commands look names up in (titles, notebooks, tags) made again if the items changed,
        rather than in the next command (`Vault.warm`). Costs one query when nothing did.

        Not in the first WARM_DELAY seconds after a command: a script's next command comes
        that soon, and need not wait for maps it may not use (at 100,000 notes the title map
        alone is 0.2-0.3 s after each change, which `vault ls` never reads); a command that
        needs one makes it, as it did before. A person's next command comes later."""
        pending = [kept for kept in self.listings.values() if kept.pending]
        if pending:  # the rows a first listing left to make: 300,000 tuples, none in a cycle
            with gcpause.paused():
                for kept in pending:
                    kept.settle()
            _settle_gc()  # (then out of the collector's reach, with the vault's objects)
        if self.vault is not None and time.monotonic() - self.ran >= WARM_DELAY:
            self.vault.warm()
            self.vault.check_history()
            _settle_gc()

    def preload(self, vault_path: str, key: bytes, foresee: dict[str, Any] | None) -> None:
        """The vault opened now (`vault unlock`, on the agent's preloading thread), as the
        first command would open it; then the `vault ls` foreseen from the terminal that
        unlocked (vault.session.thin.foreseen_listing) run, so its answer is kept (`listed`)
        and the listing's rows too; then the notes' texts folded for search. A command that
        names this path finds it open, the same `vault ls` is answered at once, and the first
        `vault search` only matches."""
        with contextlib.suppress(Declined):
            vault = self._open(vault_path, key)
            if foresee is not None:
                with contextlib.suppress(Exception):  # only a head start for that listing
                    self.run(foresee, key)
            with contextlib.suppress(Exception):  # only a head start for the first search
                vault.warm_search()

    # --- one command ---------------------------------------------------------------------

    def run(self, request: dict[str, Any], key: bytes) -> dict[str, Any]:
        try:
            call = _Call.parse(request)
        except (KeyError, TypeError, ValueError, LookupError):
            return {"ok": True, "served": False}
        saved_env = dict(os.environ)
        saved_streams = (sys.stdin, sys.stdout, sys.stderr)
        chunks: list[tuple[int, bytes]] = []
        facts = None
        try:
            try:
                os.chdir(call.cwd)
            except OSError:
                return {"ok": True, "served": False}
            os.environ.clear()
            os.environ.update(call.env)
            time.tzset()
            try:
                args, path, config = self._check(call)
                vault = self._open(path, key)
            except Declined:
                return {"ok": True, "served": False}
            facts = _listing_facts(call, args, config, vault)
            if facts is not None and self.listed is not None and self.listed[0] == facts:
                self.answered_ahead += 1
                return self.listed[1]
            sys.stdin = io.TextIOWrapper(_Input(call.stdin or b"", call.tty[0]), encoding="utf-8")
            sys.stdout = _text(chunks, 1, call.tty[1], call.encodings[0])
            sys.stderr = _text(chunks, 2, call.tty[2], call.encodings[1])
            code = None
            if facts is not None and args.json:
                code = self._json_listing(args, vault, chunks, call.encodings[0])
            elif facts is not None:
                code = self._listing(args, vault, facts[:-CONTENT_FACTS], chunks, call.encodings[0])
            if code is None:
                code = self._main(args, path, vault)
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
        finally:
            sys.stdin, sys.stdout, sys.stderr = saved_streams
            os.environ.clear()
            os.environ.update(saved_env)
            time.tzset()
            os.chdir("/")
            self.ran = time.monotonic()
        if call.framed:
            out = _joined(chunks)
            reply = {
                "ok": True,
                "served": True,
                "code": code,
                "frames": [[fd, len(data)] for fd, data in out],
                "payload": b"".join(data for _, data in out),
            }
        else:
            reply = {"ok": True, "served": True, "code": code, "out": _encoded(_joined(chunks))}
        if facts is not None:
            self.listed = (facts, reply)
        return reply

    def _listing(
        self,
        args: Any,
        vault: Any,
        shown: tuple[Any, ...],
        chunks: list[tuple[int, bytes]],
        encoding: list[str],
    ) -> int | None:
        """`vault ls` as a table, from the rows the agent keeps (vault.cli.listing): what
        `cmd_ls` prints, without laying out every row again. None (nothing written) to run
        the command as usual: JSON, an empty listing, a notebook not found, a history warning,
        an encoding that is not a plain one."""
        from vault.cli.columns import colour_on
        from vault.cli.listing import Listing
        from vault.cli.note_commands import _warn_corrupt
        from vault.errors import VaultError

        if args.json or vault.history_incident:
            return None
        if codecs.lookup(encoding[0]).name not in PLAIN_CODECS:
            return None  # stateful codecs (a BOM) must see the whole output at once
        # Listings are kept by how they are shown, less the order (`--reverse` is the same
        # table read backwards); one shown the same way in another order lends its lines.
        ignored = ("sort", "reverse", "handler", "command_line")
        parsed = sorted((k, repr(v)) for k, v in vars(args).items() if k not in ignored)
        family = (tuple(parsed), *shown[1:])  # (shown[0] is the command line)
        kept = self.listings.pop((family, args.sort), None)  # put back once whole again
        lender = next((v for (f, _), v in self.listings.items() if f == family), None)
        try:
            inside = None
            if args.notebook is not None:
                inside = vault.notebook_descendants(vault.find_notebook(args.notebook).id)
            folded = args.tag.casefold() if args.tag is not None else None
            trash = args.trash
            if inside is None and folded is None and not args.pinned:  # plain `vault ls`
                notes = [n for n in vault.all_notes() if (n.trashed is not None) is trash]
            else:
                notes = [
                    n
                    for n in vault.all_notes()  # as Vault.notes filters them
                    if n.in_trash == trash
                    and (inside is None or n.notebook in inside)
                    and (folded is None or any(t.casefold() == folded for t in n.tags))
                    and (not args.pinned or n.pinned)
                ]
            if not notes:
                return None
            # Hundreds of thousands of rows, tuples and strings, none in a cycle: collections
            # while they are made would walk them again and again (0.2-0.3 s at 100,000).
            with gcpause.paused():
                if kept is None and lender is not None:
                    kept = lender.resorted(args.sort)
                elif kept is None:
                    kept = Listing(args.sort, colour_on(sys.stdout))
                kept.update(notes, vault.notebook_path)
                data = kept.text(args.reverse).encode(*encoding)
        except (VaultError, UnicodeError):
            return None
        while len(self.listings) >= LISTINGS:
            del self.listings[next(iter(self.listings))]  # the oldest
        self.listings[family, args.sort] = kept
        _warn_corrupt(vault)
        chunks.append((1, data))
        return 0

    def _json_listing(
        self, args: Any, vault: Any, chunks: list[tuple[int, bytes]], encoding: list[str]
    ) -> int | None:
        """`vault ls --json`, as `cmd_ls` writes it, from the documents of the notes listed
        last time that did not change since (each written by the same code, `note_json` and
        `indented_json`): at 100,000 notes, after one change, one document instead of all.
        None (nothing written) to run the command as usual: a notebook not found, a history
        warning, an encoding that is not a plain one, anything unusual in a document."""
        from vault.cli.common import note_json
        from vault.cli.note_commands import _warn_corrupt, listed_notes
        from vault.cli.output import _Unusual, indented_json, json_list_of, json_safe
        from vault.errors import VaultError

        if vault.history_incident:
            return None
        if codecs.lookup(encoding[0]).name not in PLAIN_CODECS:
            return None
        try:
            with gcpause.paused():
                notes = listed_notes(vault, args)
                # A document holds its note's times in the local zone and its notebook's path.
                paths = {nb.id: vault.notebook_path(nb.id) for nb in vault.notebooks()}
                zone = (os.environ.get("TZ"), time.tzname, time.timezone, time.altzone)
                context = (zone, sorted(paths.items()))
                kept = self.json_docs if context == self.json_context else {}
                docs: dict[int, tuple[Any, str]] = {}
                pieces = []
                for note in notes:
                    found = kept.get(id(note))
                    if found is None or found[0] is not note:
                        doc = note_json(vault, note, body=False)
                        found = (note, json_safe(indented_json(doc, "\n  ")))
                    docs[id(note)] = found
                    pieces.append(found[1])
                self.json_docs, self.json_context = docs, context
                data = (json_list_of(pieces) + "\n").encode(*encoding)
        except (VaultError, UnicodeError, _Unusual, RecursionError):
            self.json_docs, self.json_context = {}, None
            return None
        _warn_corrupt(vault)
        chunks.append((1, data))
        return 0

    def _main(self, args: Any, path: str, vault: Any) -> int:
        global _lent
        from vault.cli.parser import run

        # The command's own `with vault:` or `lock()` must not close the vault kept open.
        vault.lock = vault.close = _keep_open
        _lent = (path, self.vault_id, vault)
        try:
            return int(run(args) or 0)
        finally:
            _lent = None
            del vault.lock, vault.close

    def _check(self, call: _Call) -> tuple[Any, str, Any]:
        """The parsed command, the real path of the vault it names and the configuration, if it
        is served here."""
        from vault.cli.common import vault_dir
        from vault.cli.parser import as_parsed, build_parser
        from vault.config import Config
        from vault.errors import VaultError

        if "VAULT_DEBUG" in call.env:
            raise Declined  # its traceback is for the caller's own process
        if self.parser is None:  # built once: it takes longer than most commands here
            self.parser = build_parser()
        try:
            with (
                contextlib.redirect_stderr(io.StringIO()),
                contextlib.redirect_stdout(io.StringIO()),
            ):
                args = self.parser.parse_args(as_parsed(call.argv))
        except SystemExit:
            raise Declined from None
        name = _handler_name(getattr(args, "handler", None))
        if name.removeprefix("cmd_").replace("_", "-") not in SERVED:
            raise Declined
        needs_body = (name == "cmd_new" and not args.template and not args.no_edit) or (
            name == "cmd_edit"
            and args.title is None
            and args.notebook is None
            and not (args.tag or args.untag or args.pin or args.unpin)
        )
        if needs_body and (call.tty[0] or call.stdin is None):
            raise Declined  # the editor needs the caller's terminal; the body, its stdin
        if not _no_confirmation(name, args):
            raise Declined  # it asks to confirm, on the caller's terminal (or refuses)
        on_terminal = call.tty[0] and call.tty[1]
        if name == "cmd_today" and on_terminal and not args.print and args.append is None:
            raise Declined  # on a terminal, today's note opens in the caller's editor
        if name == "cmd_conflicts" and args.item and not args.json:
            # One conflict is a Rich table as wide as the terminal, which Rich looks for on
            # the process's own descriptors: the caller's, not the agent's.
            raise Declined
        try:
            config = Config.load()
            real = os.path.realpath(vault_dir(args, config))
        except VaultError:
            raise Declined from None
        if socket_name(self.vault_id, real) != self.socket_name:
            raise Declined  # another vault (or this one under another path)
        return args, real, config

    def _open(self, real: str, key: bytes) -> Any:
        """The resident vault, opened (or reopened, if its store file was replaced)."""
        from pathlib import Path

        from vault.errors import VaultError
        from vault.notes.vault import Vault
        from vault.storage.store import DB_NAME

        try:
            st = os.stat(os.path.join(real, DB_NAME))
        except OSError:
            raise Declined from None
        ident = (st.st_dev, st.st_ino)
        if self.vault is not None and (self.real != real or self.ident != ident):
            self.close()
        if self.vault is None:
            try:
                self.vault = Vault.open_with_key(Path(real), key)
            except VaultError:
                raise Declined from None  # the normal path says why (a rekey, damage)
            self.real, self.ident = real, ident
            # The vault's objects (800,000 at 100,000 notes) live as long as the agent keeps
            # it: out of the cyclic GC's reach, or every full collection walks them all (the
            # title map made again after `vault new` took 1.4-1.9 s at 100,000 notes, against
            # 0.2-0.3 s frozen). They hold no cycles; reference counting still frees them.
            gcpause.hold()
        elif (
            self.vault.store.master_id != _master_id(self.vault)
            or self.vault.store.vault_id != self.vault_id
        ):
            self.close()
            raise Declined
        # Rows changed without the key since the last check are reported as an opening
        # would (usually already checked between commands, in `idle`: one query then).
        self.vault.check_history()
        return self.vault


def _handler_name(handler: Any) -> str:
    """The function a command runs: `cmd_ls`; a handler imported when it runs (`lazy`) is
    named by its "module:function" qualified name."""
    name = getattr(handler, "__name__", "")
    qualified = getattr(handler, "__qualname__", "")
    return qualified.rpartition(":")[2] if ":" in qualified else name


def _no_confirmation(name: str, args: Any) -> bool:
    """False for a command that would ask the person to confirm (`confirm`, on their
    terminal): the agent has none, and its own answer to "is there one" is not theirs."""
    if name == "cmd_rm":
        return not args.purge or args.yes
    if name == "cmd_empty_trash":
        return bool(args.yes)
    if name == "cmd_notebook" and args.action == "rm":
        return bool(args.yes)
    return True


def _listing_facts(call: _Call, args: Any, config: Any, vault: Any) -> tuple[Any, ...] | None:
    """For `vault ls`: everything its output depends on (the command line, the caller's
    environment, folder, streams and configuration, the time zone, and the vault's contents
    as of now: the items' generation, after a refresh from the store, and the store's
    version, which any commit moves, and the corrupt items: the last CONTENT_FACTS); None for
    the other commands, never answered twice, and while a scheduled backup is due (the command
    makes it and says so)."""
    from vault.interchange.backup import backup_due

    if getattr(args.handler, "__name__", "") != "cmd_ls" or backup_due(vault, config):
        return None
    return (
        tuple(call.argv),
        call.framed,
        call.cwd,
        tuple(sorted(call.env.items())),
        call.tty,
        tuple(map(tuple, call.encodings)),
        call.stdin,
        str(config.path),
        repr(config.data),
        (time.timezone, time.altzone, time.daylight, time.tzname),
        id(vault),
        vault.generation,
        vault.store.data_version(),
        tuple(sorted(vault.corrupt)),
    )


def _settle_gc() -> None:
    """What the last command and catch-up made and kept (a listing's rows, a search index,
    notes read again) put out of the cyclic GC's reach with the vault (`Service._open`): the
    young garbage collected first, then the rest frozen. Nothing to do when nothing was made."""
    young, middle, old = gc.get_count()
    if young > 100 or middle or old:
        gc.collect(1)
        gc.freeze()  # under the `hold` of `Service._open`, released at close


def _keep_open() -> None:
    """What `lock()` does on the resident vault while a command runs: nothing."""


def _master_id(vault: Any) -> str:
    from vault.sealing import keys

    return keys.mk_id(vault.master_key)


def _text(chunks: list[tuple[int, bytes]], fd: int, tty: bool, encoding: list[str]) -> Any:
    return io.TextIOWrapper(
        _Sink(chunks, fd, tty), encoding=encoding[0], errors=encoding[1], write_through=True
    )


def _joined(chunks: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """The writes in order, those in a row to the same stream joined."""
    out: list[tuple[int, bytes]] = []
    parts: list[bytes] = []
    last = 0
    for fd, data in chunks:
        if fd != last and parts:
            out.append((last, b"".join(parts)))
            parts = []
        last = fd
        parts.append(data)
    if parts:
        out.append((last, b"".join(parts)))
    return out


def _encoded(out: list[tuple[int, bytes]]) -> list[list[Any]]:
    """The writes base64-encoded, for a client that asked for no framed reply (an older one)."""
    return [[fd, base64.b64encode(data).decode("ascii")] for fd, data in out]


class _Call:
    """One request to run a command, checked."""

    argv: list[str]
    cwd: str
    env: dict[str, str]
    tty: tuple[bool, bool, bool]
    encodings: tuple[list[str], list[str]]
    stdin: bytes | None  # None: the client did not read it
    framed: bool  # the output as raw bytes after the reply's line (vault.session.agent.send_reply)

    @classmethod
    def parse(cls, request: dict[str, Any]) -> _Call:
        call = cls()
        argv, env, tty, enc = request["argv"], request["env"], request["tty"], request["encodings"]
        if not (isinstance(argv, list) and all(isinstance(a, str) for a in argv)):
            raise TypeError
        if not (
            isinstance(env, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
        ):
            raise TypeError
        if not (isinstance(tty, list) and len(tty) == 3):
            raise TypeError
        if not (isinstance(enc, list) and len(enc) == 2):
            raise TypeError
        for pair in enc:
            if not (isinstance(pair, list) and len(pair) == 2):
                raise TypeError
            codecs.lookup(pair[0])  # a codec and an error handler that exist
            codecs.lookup_error(pair[1])
        call.argv = argv
        call.cwd = str(request["cwd"])
        call.env = {k: v for k, v in env.items() if k not in SECRET_VARS}
        call.tty = (bool(tty[0]), bool(tty[1]), bool(tty[2]))
        call.encodings = (enc[0], enc[1])
        stdin = request.get("stdin")
        call.stdin = base64.b64decode(stdin, validate=True) if isinstance(stdin, str) else None
        call.framed = request.get("framed") is True
        return call
