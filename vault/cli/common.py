"""What every command of the `vault` command shares: printing (through vault.cli.output),
secrets typed or from the environment, opening the vault (its session, the password, the
scheduled backup), finding the NOTE a command names, and `lazy` handlers.

The command modules import from here, never from the package `vault.cli`; this module imports no
command module.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from vault.cli import output as cli_output
from vault.config import Config
from vault.errors import (
    AuthError,
    CorruptItemError,
    InvalidInputError,
    PasswordUnavailableError,
    StaleSessionError,
    UnsettledConflictError,
    VaultError,
)
from vault.notes import lookup
from vault.notes.model import CALENDAR_ERRORS, Note, datetime_of, snippet
from vault.notes.vault import Vault, VaultInfo, inspect_vault
from vault.paths import expanded, resolve_vault_dir
from vault.sealing.envelope import short
from vault.session import thin

if TYPE_CHECKING:
    from vault.session import agent_client

# Every line goes out through vault.cli.output, which shows control characters of note text
# visibly; the other command modules use these names through this module.
out = cli_output.out
info = cli_output.info
emit_json = cli_output.emit_json


# --- output helpers -----------------------------------------------------------------------


def console(stderr: bool = False) -> Any:
    return cli_output.console(stderr)


def fmt_time(ms: int | None) -> str:
    when = datetime_of(ms) if ms else None  # (none: no time a calendar shows)
    return "" if when is None else when.strftime("%Y-%m-%d %H:%M")


def iso_time(ms: int | None) -> str | None:
    when = None if ms is None else datetime_of(ms)
    if when is None:
        return None
    try:  # (the zone's offset at the calendar's very ends can overflow too)
        return when.astimezone().isoformat(timespec="seconds")
    except CALENDAR_ERRORS:
        return None


# --- secrets ------------------------------------------------------------------------------


def have_terminal() -> bool:
    try:
        fd = os.open("/dev/tty", os.O_RDWR | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return False
    os.close(fd)
    return True


def read_secret(prompt: str, env: str, what: str, *, session_would_do: bool = False) -> str:
    """A secret from the environment variable, else typed on the terminal. Never from stdin:
    stdin may carry a note's body. `session_would_do`: what is asked is the vault's password to
    open it, which a session (`vault unlock`) would spare; the error then says so (not for a
    backup's password, a clone's or a rekey's, which a session does not replace)."""
    value = os.environ.get(env)
    if value is not None:
        return value
    if not have_terminal():
        hint = " or run `vault unlock` in a terminal first" if session_would_do else ""
        raise PasswordUnavailableError(f"no terminal to ask for the {what}; set {env}{hint}")
    import getpass

    try:
        return getpass.getpass(prompt)
    except EOFError:
        raise PasswordUnavailableError(f"no {what} given") from None


def read_new_password(env: str = "VAULT_NEW_PASSWORD") -> str:
    value = os.environ.get(env)
    if value is not None:
        if not value:
            raise InvalidInputError(f"{env} is empty; the password cannot be empty")
        return value
    first = read_secret("New password: ", env, "new password")
    if not first:
        raise InvalidInputError("the password cannot be empty")
    return _repeat_new_password(first, env)


def _repeat_new_password(first: str, env: str) -> str:
    from vault.sealing.strength import estimate  # only where a password is chosen

    strength = estimate(first)
    info(f"Strength: {strength.label} ({strength.hint})")
    second = read_secret("Repeat the new password: ", env, "new password")
    if first != second:
        raise InvalidInputError("the two passwords do not match; nothing was changed")
    return first


def offer_new_password(question: str, env: str = "VAULT_NEW_PASSWORD") -> str | None:
    """A new password if the person wants one: `env` when set, else typed twice on a terminal,
    where an empty first entry declines. None without either (a script that did not ask)."""
    if env in os.environ:
        return read_new_password(env)
    if not have_terminal():
        return None
    info(question)
    first = read_secret("New password (Enter to keep the old one): ", env, "new password")
    return _repeat_new_password(first, env) if first else None


def keyfile_arg(args: argparse.Namespace) -> Path | None:
    value = args.keyfile or os.environ.get("VAULT_KEYFILE")
    return expanded(value) if value else None


# --- opening the vault --------------------------------------------------------------------


def vault_dir(args: argparse.Namespace, config: Config) -> Path:
    return resolve_vault_dir(args.vault, config.get("vault.path"))


def open_vault(
    args: argparse.Namespace,
    config: Config,
    *,
    scheduled_backup: bool = True,
    use_session: bool = True,
    kinds: frozenset[str] | None = None,
    history_warning: bool = True,
    bodies: bool = True,
    titled: str | None = None,
) -> Vault:
    """The vault unlocked by its session (`vault unlock`) or else the password.
    `use_session=False` insists on the password (changing the password proves it is known).
    `history_warning=False` leaves an altered history unmentioned (`vault check` reports it).
    `bodies=False`: the notes' bodies are not read (a listing; `Vault.unlock` says more).
    `titled`: with the password, the notes titled exactly so are looked for first, without
    building every note (`Vault.unlock`; `lookup.note_titled` reads the result)."""
    path = vault_dir(args, config)
    serving = sys.modules.get("vault.cli.served")  # loaded in the session agent only
    vault = serving.lent_here(path) if serving and use_session else None
    if vault is None:  # (the agent checked the one it keeps open: same store file, same key)
        info_ = inspect_vault(path)  # a missing or broken vault fails here, before any prompt
        vault = _open_from_session(path, info_.vault_id, kinds, bodies) if use_session else None
    if vault is None:
        vault = with_password(
            args,
            info_,
            lambda password, keyfile: Vault.unlock(
                path,
                password=password,
                keyfile=keyfile,
                kinds=kinds,
                bodies=bodies,
                titled=titled if not bodies else None,
            ),
        )
    if vault.history_incident and history_warning:
        info(f"warning: {vault.history_incident}; `vault check` tells more")
    if scheduled_backup:
        _scheduled_backup(vault, config)
    return vault


T = TypeVar("T")


def with_password(
    args: argparse.Namespace, info_: VaultInfo, attempt: Callable[[str, Path | None], T]
) -> T:
    """`attempt(password, keyfile)` with the password typed (three tries) or from
    VAULT_PASSWORD (one try)."""
    keyfile = keyfile_arg(args)
    if info_.needs_keyfile and keyfile is None:
        from vault.errors import KeyfileRequiredError

        raise KeyfileRequiredError("this vault needs its keyfile: pass --keyfile PATH")
    interactive = "VAULT_PASSWORD" not in os.environ
    attempts = 3 if interactive else 1
    for n in range(attempts):
        password = read_secret(
            "Password: ", "VAULT_PASSWORD", "vault password", session_would_do=True
        )
        try:
            return attempt(password, keyfile)
        except AuthError as exc:
            if n == attempts - 1 or not type(exc).__name__.startswith("WrongPassword"):
                raise
            info(f"{exc}; try again")
    raise AssertionError("unreachable")


def _open_from_session(
    path: Path, vault_id: str, kinds: frozenset[str] | None = None, bodies: bool = True
) -> Vault | None:
    """The vault opened with the key of its unlocked session (`vault unlock`), if it has one.
    A session whose key the vault no longer uses (rekeyed since) is ended on the spot."""
    serving = sys.modules.get("vault.cli.served")  # loaded in the session agent only
    lent = serving.resident(path, vault_id) if serving else None
    if lent is not None:
        return lent  # the agent runs this command on the vault it keeps open
    if not thin.may_have_session(str(path), vault_id):
        return None  # no session socket anywhere: the client and its imports are not needed
    from vault.session import agent_client

    key = agent_client.fetch_key(path, vault_id)
    if key is None:
        return None
    try:
        return Vault.open_with_key(path, key, kinds, bodies)
    except StaleSessionError:
        agent_client.lock(path, vault_id)
        info("The unlocked session was for this vault's old key; it is locked now.")
        return None


def _scheduled_backup(vault: Vault, config: Config) -> None:
    """A terminal tool has no daemon: an automatic backup that is due (backup.interval_hours)
    is made when a command next unlocks the vault. Its failure never fails the command."""
    from vault.interchange.backup import auto_backup

    try:
        made = auto_backup(vault, config, reason="schedule")
    except VaultError as exc:
        info(f"warning: the scheduled backup failed: {exc}")
        return
    if made is not None:
        info(f"Made the scheduled backup {made}")
        left_out = tuple(vault.damaged_slot_files)
        if left_out:
            from vault.interchange.backup import left_out_text

            info(f"warning: {left_out_text(left_out)}; older backups were kept")


def session_json(session: agent_client.SessionInfo | None) -> dict[str, Any]:
    if session is None:
        return {"unlocked": False}
    return {
        "unlocked": True,
        "expires": datetime.fromtimestamp(session.expires).astimezone().isoformat("T", "seconds"),
        "idle_timeout_minutes": round(session.timeout / 60, 2),
        "pid": session.pid,
        "key_locked_in_ram": session.key_locked_in_ram,
    }


def session_line(session: agent_client.SessionInfo | None) -> str:
    if session is None:
        return "locked (each command asks for the password; `vault unlock` to stay unlocked)"
    until = datetime.fromtimestamp(session.expires).strftime("%H:%M:%S")
    return (
        f"unlocked until {until} if left idle (timeout {session.timeout / 60:g} min; "
        "`vault lock` to end it now)"
    )


# --- what several commands share ----------------------------------------------------------


def stdin_is_terminal() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def confirm(question: str) -> bool:
    if not have_terminal() or not stdin_is_terminal():
        raise InvalidInputError("refusing without confirmation; add --yes")
    answer = cli_output.ask(question).strip().lower()
    return answer in ("y", "yes")


def edit_dir(vault: Vault) -> Path:
    return vault.path / ".edit"


def note_json(vault: Vault, note: Note, *, body: bool = True) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": note.id,
        "title": note.title,
        "notebook": vault.notebook_path(note.notebook) or None,
        "tags": list(note.tags),
        "pinned": note.pinned,
        "created": iso_time(note.created),
        "modified": iso_time(note.modified),
        "trashed": iso_time(note.trashed),
        "version": note.version,
        "conflict": note.conflict,
    }
    if body:
        doc["body"] = note.body
    else:
        doc["snippet"] = snippet(note.body)
    return doc


# A vault opened with these kinds only has every notebook and tag but no note decrypted.
WITHOUT_NOTES = frozenset({"notebook", "tag"})


@contextlib.contextmanager
def opened_note(
    args: argparse.Namespace,
    config: Config,
    ref: str,
    *,
    trashed: bool | None = None,
    read_only: bool = False,
    every_note: bool = False,
    damaged_ok: bool = False,
) -> Iterator[tuple[Vault, Note]]:
    """The unlocked vault and the note `ref` names (vault.notes.lookup), for every command that
    takes a NOTE. An id or the short id `vault ls` prints is looked up in the store's index and only
    that note is decrypted; any other name needs every note's title, so every note (a command
    that only reads first looks for the exact title in the snapshot, `lookup.note_titled`,
    without building every note). A command that only reads (`read_only`) makes no scheduled
    backup: it changed nothing to back up. `every_note`: the command goes on to read other
    notes than this one (a rename updates the links to it), so the vault opens with them all
    whatever names the note. `damaged_ok`: an id may name a note whose newest version does not
    open, given as its newest version that does (`Vault.damaged_note`: history, revert)."""
    backup = not read_only
    if not lookup.looks_like_id(ref) and read_only and trashed is None:
        vault = open_vault(args, config, scheduled_backup=False, bodies=False, titled=ref.strip())
        try:
            note = lookup.note_titled(vault, ref)
            if note is None:  # no note titled exactly so: every note's title decides
                note = vault.note(lookup.find_note(vault, ref).id)
            yield vault, note
        finally:
            vault.lock()
        return
    if not lookup.looks_like_id(ref) or every_note:
        # Naming a note by its title needs every title, not every body: a command that only
        # reads decrypts the body of the one note named.
        with open_vault(args, config, scheduled_backup=backup, bodies=backup) as vault:
            note = lookup.find_note(vault, ref, trashed=trashed)
            yield vault, note if backup else vault.note(note.id)
        return
    vault = open_vault(args, config, kinds=WITHOUT_NOTES, scheduled_backup=backup)
    try:
        try:
            note = lookup.note_by_id(vault, ref, trashed=trashed)
        except CorruptItemError:
            if not damaged_ok:
                raise
            vault = _every_note(vault)  # the damaged one's versions
            note = vault.damaged_note(ref)
        if note is None:  # hex that is a title after all
            vault = _every_note(vault)
            note = lookup.find_note(vault, ref, trashed=trashed)
        yield vault, note
    finally:
        vault.lock()


def _every_note(vault: Vault) -> Vault:
    """`vault`, opened again with every note, with the key in hand (no second unlock)."""
    whole = Vault.open_with_key(vault.path, vault.master_key)
    vault.lock()
    return whole


def editable(vault: Vault, note: Note) -> Note:
    """`note` as it can be changed now. A fork that merges is merged first; versions in real
    conflict are refused: an edit would go on one of them only, and the conflict would grow
    with every save."""
    if not note.conflict:
        return note
    from vault.sync.conflicts import blocks_edit

    if blocks_edit(vault, note.id):
        raise UnsettledConflictError(
            f"note {short(note.id)} has versions that conflict; settle them first: "
            f"`vault conflicts {short(note.id)}`, then `vault resolve {short(note.id)} "
            "mine|theirs|both`"
        )
    return vault.note(note.id)


# --- the commands' table -----------------------------------------------------------------


Handler = Callable[[argparse.Namespace, Config], int]
NOTE_HELP = "the note: its id, the short id `vault ls` shows, its title or part of it"


def lazy(spec: str) -> Handler:
    """A handler named "module:function", imported only when its command runs: building the
    parser then costs no import of sync or backup code."""

    def run(args: argparse.Namespace, config: Config) -> int:
        import importlib

        module, name = spec.split(":")
        return int(getattr(importlib.import_module(module), name)(args, config) or 0)

    run.__qualname__ = spec
    return run
