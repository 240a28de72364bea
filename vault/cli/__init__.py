"""The `vault` command: a thin face over the domain API (vault.notes.Vault).

Every failure a person can cause ends in one line on stderr and a non-zero exit, never a
traceback; unexpected errors show only their type and place, because their text might hold
decrypted content.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from vault import __version__
from vault.cli import output as cli_output
from vault.config import Config
from vault.errors import (
    AuthError,
    InvalidInputError,
    PasswordUnavailableError,
    StaleSessionError,
    UnsettledConflictError,
    VaultError,
)
from vault.hardening import harden
from vault.notes import lookup
from vault.notes.counts import notes_per_notebook
from vault.notes.model import Note, snippet
from vault.notes.search import match_snippet, parse_query
from vault.notes.vault import Vault, VaultInfo, inspect_vault
from vault.paths import resolve_vault_dir
from vault.sealing.crypto import TEST_KDF, KdfParams
from vault.sealing.envelope import short
from vault.sealing.keys import create_keyfile
from vault.sealing.strength import estimate
from vault.session import agent_client
from vault.storage.store import Store
from vault.textsafe import visible
from vault.wording import plural

# Every line goes out through vault.cli.output, which shows control characters of note text
# visibly; the other command modules use these names through this module.
out = cli_output.out
info = cli_output.info
emit_json = cli_output.emit_json

EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


# --- output helpers ------------------------------------------------------------------------


def _console(stderr: bool = False) -> Any:
    return cli_output.console(stderr)


def fmt_time(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")


def iso_time(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000).astimezone().isoformat(timespec="seconds")


# --- secrets -------------------------------------------------------------------------------


def _have_terminal() -> bool:
    try:
        fd = os.open("/dev/tty", os.O_RDWR | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return False
    os.close(fd)
    return True


def read_secret(prompt: str, env: str, what: str) -> str:
    """A secret from the environment variable, else typed on the terminal. Never from stdin:
    stdin may carry a note's body."""
    value = os.environ.get(env)
    if value is not None:
        return value
    if not _have_terminal():
        hint = " or run `vault unlock` in a terminal first" if env == "VAULT_PASSWORD" else ""
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
    if not _have_terminal():
        return None
    info(question)
    first = read_secret("New password (Enter to keep the old one): ", env, "new password")
    return _repeat_new_password(first, env) if first else None


def keyfile_arg(args: argparse.Namespace) -> Path | None:
    value = args.keyfile or os.environ.get("VAULT_KEYFILE")
    return Path(value).expanduser() if value else None


# --- opening the vault ---------------------------------------------------------------------


def vault_dir(args: argparse.Namespace, config: Config) -> Path:
    return resolve_vault_dir(args.vault, config.get("vault.path"))


def open_vault(
    args: argparse.Namespace,
    config: Config,
    *,
    scheduled_backup: bool = True,
    use_session: bool = True,
    kinds: frozenset[str] | None = None,
) -> Vault:
    """The vault unlocked by its session (`vault unlock`) or else the password.
    `use_session=False` insists on the password (changing the password proves it is known)."""
    path = vault_dir(args, config)
    info_ = inspect_vault(path)  # a missing or broken vault fails here, before any prompt
    vault = _open_from_session(path, info_.vault_id, kinds) if use_session else None
    if vault is None:
        vault = with_password(
            args,
            info_,
            lambda password, keyfile: Vault.unlock(
                path, password=password, keyfile=keyfile, kinds=kinds
            ),
        )
    if vault.history_incident and getattr(args, "handler", None) is not cmd_check:
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
        password = read_secret("Password: ", "VAULT_PASSWORD", "vault password")
        try:
            return attempt(password, keyfile)
        except AuthError as exc:
            if n == attempts - 1 or not type(exc).__name__.startswith("WrongPassword"):
                raise
            info(f"{exc}; try again")
    raise AssertionError("unreachable")


def _open_from_session(
    path: Path, vault_id: str, kinds: frozenset[str] | None = None
) -> Vault | None:
    """The vault opened with the key of its unlocked session (`vault unlock`), if it has one.
    A session whose key the vault no longer uses (rekeyed since) is ended on the spot."""
    key = agent_client.fetch_key(path, vault_id)
    if key is None:
        return None
    try:
        return Vault.open_with_key(path, key, kinds)
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


# --- commands ------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace, config: Config) -> int:
    path = vault_dir(args, config)
    Store.check_can_create(path)
    keyfile = keyfile_arg(args)
    password = os.environ.get("VAULT_PASSWORD")
    if password is None:
        password = read_new_password("VAULT_PASSWORD")
    elif not password:
        raise InvalidInputError("VAULT_PASSWORD is empty; the password cannot be empty")
    if keyfile is not None and not keyfile.exists():
        _make_keyfile(keyfile)
        info(f"Created keyfile {keyfile}: keep a copy somewhere safe, apart from the vault.")
    if args.insecure_test_kdf:
        info("warning: tiny KDF parameters (--insecure-test-kdf); for tests only")
        kdf, weak = TEST_KDF, True
    else:
        kdf, weak = _measure_kdf(), False
    vault, recovery = Vault.create(path, password, keyfile=keyfile, kdf=kdf, allow_weak_kdf=weak)
    with vault:
        if args.json:
            emit_json({"vault": str(path), "vault_id": vault.vault_id, "recovery_key": recovery})
            return 0
        out(f"Created a vault at {path}")
        out()
        out("Your recovery key (shown only this once):")
        out()
        groups = recovery.split("-")
        out("    " + "-".join(groups[:7]))
        out("    " + "-".join(groups[7:]))
        out()
        out("Write it down and keep it somewhere safe. With it you can set a new password")
        out("if you forget yours (vault passwd --recovery); without both, nobody can open")
        out("your notes, including us.")
    return 0


def _measure_kdf() -> KdfParams:
    """Argon2 parameters measured on this machine, saying so on stderr. On a terminal the
    "Measuring" line is rewritten in place with the outcome; in a log or a pipe every line
    is whole, so nothing written after it lands on the same line."""
    from vault.sealing.crypto import calibrate_kdf

    measuring = "Measuring this machine to choose key-derivation cost…"
    terminal = _stderr_is_terminal()
    sys.stderr.write(measuring if terminal else measuring + "\n")
    sys.stderr.flush()
    try:
        kdf = calibrate_kdf()
    except BaseException:
        if terminal:
            sys.stderr.write("\n")  # the error gets a line of its own
        raise
    outcome = (
        f"Key derivation: Argon2id with {kdf.memory_kib // 1024} MiB and {kdf.time_cost} "
        "passes, measured for this machine."
    )
    # A carriage return and a line at least as long: no escape sequence, so any terminal.
    # Written directly: info() shows every control character visibly, this one included.
    if terminal:
        sys.stderr.write("\r" + outcome.ljust(len(measuring)) + "\n")
    else:
        info(outcome)
    return kdf


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _make_keyfile(path: Path) -> None:
    create_keyfile(path)  # shared with the app's first-run screen


def _read_stdin() -> str:
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError("stdin is not UTF-8 text; nothing was saved") from None


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _notebook_id(vault: Vault, ref: str | None, *, create: bool) -> str | None:
    if ref is None:
        return None
    if create:
        nb, created = vault.ensure_notebook(ref)
        if created:
            info(f"Created notebook {vault.notebook_path(nb.id)}")
        return nb.id
    return vault.find_notebook(ref).id


def cmd_new(args: argparse.Namespace, config: Config) -> int:
    # Adding a note needs the notebooks and tags, not every note decrypted (a template does).
    kinds = None if args.template else frozenset({"notebook", "tag"})
    with open_vault(args, config, kinds=kinds) as vault:
        notebook = _notebook_id(vault, args.notebook, create=True)
        if args.template:
            from vault.notes.templates import NoteSettings, fill, find_template

            template = find_template(vault, NoteSettings.from_config(config), args.template)
            body = fill(template.body, args.title, datetime.now())
        elif args.no_edit:
            body = ""
        elif not _stdin_is_terminal():
            body = _read_stdin()
        else:
            from vault.editor import edit_text

            body = edit_text("", command=config.get("editor.command"), fallback=_edit_dir(vault))
        note = vault.create_note(
            args.title, body, notebook=notebook, tags=args.tag or [], pinned=args.pin
        )
        if args.json:
            emit_json(note_json(vault, note, body=False))
        else:
            out(f"Created note {short(note.id)}")
    return 0


def _edit_dir(vault: Vault) -> Path:
    return vault.path / ".edit"


def cmd_ls(args: argparse.Namespace, config: Config) -> int:
    with open_vault(args, config) as vault:
        notebook = _notebook_id(vault, args.notebook, create=False)
        notes = vault.notes(
            notebook=notebook,
            tag=args.tag,
            trashed=args.trash,
            pinned=True if args.pinned else None,
            sort=args.sort,  # newest first unless asked: the app's sort is the app's
        )
        if args.reverse:  # pinned notes stay on top
            notes = [n for n in notes if n.pinned][::-1] + [n for n in notes if not n.pinned][::-1]
        _warn_corrupt(vault)
        if args.json:
            emit_json([note_json(vault, n, body=False) for n in notes])
            return 0
        if not notes:
            where = "in the trash" if args.trash else "here"
            info(f"No notes {where}." + ("" if args.trash else " Add one with `vault new TITLE`."))
            return 0
        _note_table(vault, notes)
    return 0


def _note_table(vault: Vault, notes: Sequence[Note], query: Any = None) -> None:
    from vault.cli.columns import Column, print_table

    columns = [
        Column("ID", "cyan"),
        Column("Title", share=3),
        Column("Notebook", "magenta", share=1),
        Column("Tags", "green", share=1),
        Column("Modified", "dim"),
    ]
    if query is not None:
        columns.append(Column("Match", "dim", share=3))
    rows = []
    for note in notes:
        title = ("★ " if note.pinned else "") + note.title + (" ⚠" if note.conflict else "")
        row = [
            short(note.id),
            title,
            vault.notebook_path(note.notebook),
            ", ".join(note.tags),
            fmt_time(note.modified),
        ]
        if query is not None:
            row.append(match_snippet(note.body, query, 60))
        rows.append(row)
    print_table(columns, rows)


def _warn_corrupt(vault: Vault) -> None:
    if vault.corrupt:
        ids = ", ".join(short(i) for i in sorted(vault.corrupt)[:5])
        info(
            f"warning: {plural(len(vault.corrupt), 'item')} could not be opened ({ids}): "
            "tampered or corrupt; `vault check` tells more"
        )


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
    args: argparse.Namespace, config: Config, ref: str, *, trashed: bool | None = None
) -> Iterator[tuple[Vault, Note]]:
    """The unlocked vault and the note `ref` names (vault.notes.lookup), for every command that
    takes a NOTE. An id or the short id `vault ls` prints is looked up in the store's index and only
    that note is decrypted; any other name needs every note's title, so every note."""
    if not lookup.looks_like_id(ref):
        with open_vault(args, config) as vault:
            yield vault, lookup.find_note(vault, ref, trashed=trashed)
        return
    vault = open_vault(args, config, kinds=WITHOUT_NOTES)
    try:
        note = lookup.note_by_id(vault, ref, trashed=trashed)
        if note is None:  # hex that is a title after all: every note, with the key in hand
            whole = Vault.open_with_key(vault.path, vault.master_key)
            vault.lock()
            vault = whole
            note = lookup.find_note(vault, ref, trashed=trashed)
        yield vault, note
    finally:
        vault.lock()


def cmd_show(args: argparse.Namespace, config: Config) -> int:
    with opened_note(args, config, args.note) as (vault, note):
        if args.version:
            note = _version_of(vault, note, args.version)
        _show(args, vault, note)
    return 0


def _show(args: argparse.Namespace, vault: Vault, note: Note) -> None:
    if args.json:
        emit_json(note_json(vault, note))
    elif args.raw:
        cli_output.write_body(note.body, exact=True)
    else:
        _print_note(vault, note)


def _print_note(vault: Vault, note: Note) -> None:
    field = cli_output.field
    cli_output.out_styled(field(note.title), "bold")
    meta = [f"id {short(note.id)}", f"modified {fmt_time(note.modified)}"]
    if note.notebook:
        meta.append(f"in {field(vault.notebook_path(note.notebook))}")
    if note.tags:
        meta.append("tags " + ", ".join(field(t) for t in note.tags))
    if note.pinned:
        meta.append("pinned")
    if note.in_trash:
        meta.append("in the trash")
    if note.conflict:
        meta.append("CONFLICT: another version exists")
    cli_output.out_styled(" · ".join(meta), "dim")
    out()
    cli_output.write_body(note.body)


def _version_of(vault: Vault, note: Note, version: str) -> Note:
    matches = [v for v in vault.note_history(note) if v.version.startswith(version)]
    if len(matches) != 1:
        raise InvalidInputError(
            f"no single version of this note starts with '{version}'; `vault history` lists them"
        )
    if matches[0].note is None:
        raise InvalidInputError("that version holds no content (a deletion, or purged)")
    return matches[0].note


def _editable(vault: Vault, note: Note) -> Note:
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


def cmd_edit(args: argparse.Namespace, config: Config) -> int:
    with opened_note(args, config, args.note) as (vault, note):
        note = _editable(vault, note)
        changes: dict[str, Any] = {}
        renamed = None
        if args.title is not None and args.title == note.title:
            changes["title"] = args.title
        elif args.title is not None:
            from vault.cli.link_commands import rename_message
            from vault.notes.renaming import rename_note

            renamed = rename_note(vault, note, args.title, update_links=not args.no_update_links)
            note = renamed.note
        if args.notebook is not None:
            changes["notebook"] = (
                None
                if args.notebook in ("", "/")
                else _notebook_id(vault, args.notebook, create=True)
            )
        if args.tag or args.untag:
            drop = {t.casefold().lstrip("#") for t in args.untag or []}
            tags = [t for t in note.tags if t.casefold() not in drop]
            changes["tags"] = tags + list(args.tag or [])
        if args.pin:
            changes["pinned"] = True
        if args.unpin:
            changes["pinned"] = False
        if renamed is not None and not changes:
            info(rename_message(renamed))
            return 0
        if not changes:
            # Only the body: from stdin in a pipe, else the editor.
            if not _stdin_is_terminal():
                body = _read_stdin()
                if not body and not args.allow_empty:
                    raise InvalidInputError(
                        "stdin was empty; the note was not changed (--allow-empty clears it)"
                    )
            else:
                from vault.editor import edit_text

                body = edit_text(
                    note.body, command=config.get("editor.command"), fallback=_edit_dir(vault)
                )
            changes["body"] = body
        updated = vault.update_note(note, **changes)
        if updated.version == note.version:
            info("No changes.")
        elif updated.conflict:
            info(
                f"Saved {short(note.id)}, but another version was saved meanwhile: both are kept "
                "(see `vault history`)."
            )
        else:
            info(f"Saved {short(note.id)}.")
        if renamed is not None:
            info(rename_message(renamed))
    return 0


def cmd_rm(args: argparse.Namespace, config: Config) -> int:
    with opened_note(args, config, args.note) as (vault, note):
        if args.purge:
            if not args.yes and not _confirm(f"Delete '{note.title}' for good?"):
                info("Nothing deleted.")
                return 1
            vault.purge_note(note)
            info(f"Deleted {short(note.id)} for good.")
        elif note.in_trash:
            info(
                f"{short(note.id)} is already in the trash (`vault rm {short(note.id)} --purge` "
                f"deletes it for good, `vault restore {short(note.id)}` brings it back)."
            )
        else:
            vault.trash_note(note)
            info(f"Moved {short(note.id)} to the trash (`vault restore {short(note.id)}` undoes).")
    return 0


def _confirm(question: str) -> bool:
    if not _have_terminal() or not _stdin_is_terminal():
        raise InvalidInputError("refusing without confirmation; add --yes")
    answer = cli_output.ask(question).strip().lower()
    return answer in ("y", "yes")


def cmd_restore(args: argparse.Namespace, config: Config) -> int:
    with opened_note(args, config, args.note, trashed=True) as (vault, note):
        vault.restore_note(note)
        info(f"Restored {short(note.id)}.")
    return 0


def cmd_empty_trash(args: argparse.Namespace, config: Config) -> int:
    with open_vault(args, config) as vault:
        count = len(vault.notes(trashed=True))
        if (
            count
            and not args.yes
            and not _confirm(f"Delete {plural(count, 'note')} in the trash for good?")
        ):
            info("Nothing deleted.")
            return 1
        info(f"Deleted {plural(vault.empty_trash(), 'note')} for good.")
    return 0


def cmd_search(args: argparse.Namespace, config: Config) -> int:
    with open_vault(args, config) as vault:
        query = parse_query(args.query)
        if query.empty:
            raise InvalidInputError("search for at least one word")
        found = vault.search(query, trashed=args.trash)
        hits = found if args.all else found[: args.limit]
        _warn_corrupt(vault)
        if len(hits) < len(found):  # on stderr: stdout stays the results alone
            info(f"showing {len(hits)} of {len(found):,}; --limit N or --all for more")
        if args.json:
            emit_json(
                [
                    {
                        **note_json(vault, h.note, body=False),
                        "score": round(h.score, 3),
                        "match": match_snippet(h.note.body, query),
                    }
                    for h in hits
                ]
            )
            return 0 if hits else 1
        if not hits:
            info("No notes match.")
            return 1  # as grep does, so scripts can test for a match
        _note_table(vault, [h.note for h in hits], query)
    return 0


def cmd_history(args: argparse.Namespace, config: Config) -> int:
    with opened_note(args, config, args.note) as (vault, note):
        versions = vault.note_history(note)
        if args.json:
            emit_json(
                [
                    {
                        "version": v.version,
                        "device": v.device,
                        "modified": iso_time(v.note.modified) if v.note else None,
                        "title": v.note.title if v.note else None,
                        "deleted": v.note is None,
                        "current": v.version == note.version,
                    }
                    for v in versions
                ]
            )
            return 0
        for v in versions:
            mark = "*" if v.version == note.version else " "
            if v.note is None:
                out(f"{mark} {v.version[:12]}  (no content: deleted or purged)")
            else:
                size = len(v.note.body.encode("utf-8"))
                when = fmt_time(v.note.modified)
                title = cli_output.field(v.note.title)
                out(f"{mark} {v.version[:12]}  {when}  {size:>7} bytes  {title}")
    return 0


def cmd_revert(args: argparse.Namespace, config: Config) -> int:
    with opened_note(args, config, args.note) as (vault, note):
        note = _editable(vault, note)
        old = _version_of(vault, note, args.version)
        vault.update_note(note, title=old.title, body=old.body, tags=old.tags, pinned=old.pinned)
        info(f"Restored the content of version {args.version} as the newest version.")
    return 0


def cmd_notebooks(args: argparse.Namespace, config: Config) -> int:
    with open_vault(args, config) as vault:
        notebooks = vault.notebooks()
        counts = notes_per_notebook(vault.all_notes(), notebooks)  # as the app's sidebar
        if args.json:
            emit_json(
                [
                    {
                        "id": nb.id,
                        "path": vault.notebook_path(nb.id),
                        "name": nb.name,
                        "notes": counts.get(nb.id, 0),
                    }
                    for nb in notebooks
                ]
            )
            return 0
        if not notebooks:
            info("No notebooks yet. `vault new TITLE --notebook NAME` makes one.")
            return 0
        for nb in notebooks:
            depth = vault.notebook_path(nb.id).count("/")
            out(f"{'  ' * depth}{cli_output.field(nb.name)}  ({counts.get(nb.id, 0)})")
    return 0


def cmd_notebook(args: argparse.Namespace, config: Config) -> int:
    with open_vault(args, config) as vault:
        if args.action == "new":
            nb, created = vault.ensure_notebook(args.path)
            info(f"{'Created' if created else 'Already there:'} {vault.notebook_path(nb.id)}")
        elif args.action == "rename":
            nb = vault.find_notebook(args.path)
            vault.rename_notebook(nb, args.name)
            info(f"Renamed to {vault.notebook_path(nb.id)}")
        elif args.action == "move":
            nb = vault.find_notebook(args.path)
            parent = vault.find_notebook(args.parent).id if args.parent else None
            vault.move_notebook(nb, parent)
            info(f"Moved to {vault.notebook_path(nb.id)}")
        elif args.action == "rm":
            nb = vault.find_notebook(args.path)
            if not args.yes and not _confirm(
                f"Delete notebook {vault.notebook_path(nb.id)} and move its notes to the trash?"
            ):
                info("Nothing deleted.")
                return 1
            trashed = vault.delete_notebook(nb)
            info(f"Deleted the notebook; {plural(trashed, 'note')} moved to the trash.")
    return 0


def cmd_tags(args: argparse.Namespace, config: Config) -> int:
    with open_vault(args, config) as vault:
        tags = vault.tags()
        if args.json:
            emit_json([{"name": t.name, "notes": t.notes} for t in tags])
            return 0
        if not tags:
            info("No tags yet. `vault new TITLE --tag NAME` adds one.")
        for t in tags:
            out(f"{cli_output.field(t.name)}  ({t.notes})")
    return 0


def cmd_tag(args: argparse.Namespace, config: Config) -> int:
    with open_vault(args, config) as vault:
        if args.action == "rename":
            count = vault.rename_tag(args.name, args.new_name)
            info(f"Renamed the tag on {plural(count, 'note')}.")
        else:
            count = vault.delete_tag(args.name)
            info(f"Removed the tag from {plural(count, 'note')}.")
    return 0


def cmd_passwd(args: argparse.Namespace, config: Config) -> int:
    path = vault_dir(args, config)
    new_keyfile: Path | None
    if args.no_keyfile:
        new_keyfile = None
    elif args.new_keyfile:
        new_keyfile = Path(args.new_keyfile).expanduser()
    else:
        new_keyfile = keyfile_arg(args)  # keep using the same keyfile
    if args.recovery:
        inspect_vault(path)
        recovery = read_secret("Recovery key: ", "VAULT_RECOVERY_KEY", "recovery key")
        vault = Vault.unlock(path, recovery_key=recovery)
    else:
        vault = open_vault(args, config, use_session=False)
    with vault:
        password = read_new_password()
        if new_keyfile is not None and not new_keyfile.exists():
            _make_keyfile(new_keyfile)
            info(f"Created keyfile {new_keyfile}: keep a copy somewhere safe.")
        vault.change_password(password, keyfile=new_keyfile)
        info("Password changed." + (" The vault now needs its keyfile." if new_keyfile else ""))
    return 0


def cmd_rekey(args: argparse.Namespace, config: Config) -> int:
    with open_vault(args, config) as vault:
        password = os.environ.get("VAULT_PASSWORD") or read_secret(
            "Password (again, to re-wrap the new key): ", "VAULT_PASSWORD", "vault password"
        )
        remote = _rekey_sync_first(vault, config, offline=args.offline)
        info("Re-encrypting every version of every item under a new master key…")
        recovery = vault.rekey(password, keyfile=keyfile_arg(args))
        if agent_client.lock(vault.path, vault.vault_id):
            info("Locked the unlocked session: it held the old key.")
        if remote is not None:
            info(
                f"Your other devices still use the old key with {remote}. This device will not "
                "sync there again: start a new folder here with `vault remote set NEWDIR`, then "
                "clone each other device from it (`vault clone NEWDIR`); a device that has "
                "changes it never synced should back them up or export them first."
            )
        if args.json:
            emit_json({"recovery_key": recovery})
            return 0
        out("Done. Your NEW recovery key (the old one no longer works):")
        out()
        groups = recovery.split("-")
        out("    " + "-".join(groups[:7]))
        out("    " + "-".join(groups[7:]))
    return 0


def _rekey_sync_first(vault: Vault, config: Config, *, offline: bool) -> Path | None:
    """Before the key changes, pull what the other devices put in the sync folder: after the
    rekey this device can no longer read it, and their edits would be left behind."""
    from vault.sync import SyncEngine, configured_remote

    remote = configured_remote(vault, config.get("sync.remote") or "")
    if remote is None or offline:
        return remote
    info(f"Syncing with {remote} first, so changes other devices made are kept…")
    try:
        SyncEngine(vault, remote).sync()
    except VaultError as exc:
        raise VaultError(
            f"could not sync first ({exc}); fix that, or rekey with --offline to leave the "
            "folder's newest changes behind"
        ) from None
    return remote


def cmd_check(args: argparse.Namespace, config: Config) -> int:
    with open_vault(args, config) as vault:
        report = vault.check()
        if args.json:
            emit_json(
                {
                    "items": report.items,
                    "versions": report.versions,
                    "corrupt": report.corrupt,
                    "conflicts": report.conflicts,
                    "history": report.history,
                }
            )
        else:
            out(f"{plural(report.items, 'item')}, {plural(report.versions, 'version')} checked.")
            if report.history:
                out(f"  altered: {report.history}")
            for reason in sorted(report.corrupt.values()):
                out(f"  damaged: {reason}")
            if report.conflicts:
                out(f"  {plural(len(report.conflicts), 'item')} with conflicting versions.")
            if report.ok:
                out("Everything opens.")
        if report.history:
            vault.acknowledge_history_incident()  # shown: later commands stop repeating it
        return 0 if report.ok else 1


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    path = vault_dir(args, config)
    vi = inspect_vault(path)
    session = agent_client.status(path, vi.vault_id)
    doc: dict[str, Any] = {
        "vault": str(path),
        "vault_id": vi.vault_id,
        "key_slots": list(vi.slot_types),
        "needs_keyfile": vi.needs_keyfile,
        "config": str(config.path),
    }
    if args.json:
        doc["session"] = session_json(session)
        emit_json(doc)
    else:
        for k, v in doc.items():
            out(f"{k:14} {', '.join(v) if isinstance(v, list) else v}")
        out(f"{'session':14} {session_line(session)}")
    return 0


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


def cmd_config(args: argparse.Namespace, config: Config) -> int:
    if args.action == "path":
        out(str(config.path))
    elif args.action == "show":
        import tomli_w

        sys.stdout.write(tomli_w.dumps(config.effective()))
    elif args.action == "get":
        value = config.get(args.key)
        out(json.dumps(value) if not isinstance(value, str) else value)
    elif args.action == "set":
        config.set(args.key, args.value)
        config.save()
        info(f"{args.key} = {config.get(args.key)!r}")
    elif args.action == "unset":
        config.unset(args.key)
        config.save()
    return 0


def cmd_tui(args: argparse.Namespace, config: Config) -> int:
    try:
        from vault.tui.app import run_app
    except ImportError:
        build_parser().print_help()
        return 0
    return run_app(vault_path=vault_dir(args, config), config=config, keyfile=keyfile_arg(args))


# --- the parser ----------------------------------------------------------------------------

Handler = Callable[[argparse.Namespace, Config], int]
NOTE_HELP = "the note: its id, the short id `vault ls` shows, its title or part of it"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {visible(text)}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def lazy(spec: str) -> Handler:
    """A handler named "module:function", imported only when its command runs: building the
    parser then costs no import of sync or backup code."""

    def run(args: argparse.Namespace, config: Config) -> int:
        import importlib

        module, name = spec.split(":")
        return int(getattr(importlib.import_module(module), name)(args, config) or 0)

    run.__qualname__ = spec
    return run


def _add_common_options(parser: argparse.ArgumentParser, default: Any) -> None:
    group = parser.add_argument_group("options of every command")
    for flag, metavar, help_ in (
        ("--vault", "DIR", "the vault folder (or set VAULT_DIR)"),
        ("--keyfile", "PATH", "keyfile, for vaults that need one (or VAULT_KEYFILE)"),
    ):
        with contextlib.suppress(argparse.ArgumentError):  # the command has its own
            group.add_argument(flag, metavar=metavar, default=default, help=help_)


class CommandParser(argparse.ArgumentParser):
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vault",
        description="A personal, end-to-end encrypted notes vault. "
        "Run with no command to open the terminal app.",
    )
    parser.add_argument("--version", action="version", version=f"vault {__version__}")
    _add_common_options(parser, None)
    parser.set_defaults(handler=cmd_tui)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=CommandParser)

    def command(name: str, handler: Handler, help_: str, json_flag: bool = False) -> Any:
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
    p.add_argument("query", help='words (all must match), "a phrase", -word, tag:name')
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
    q = tsub.add_parser("rename")
    q.add_argument("name")
    q.add_argument("new_name")
    tsub.add_parser("rm").add_argument("name")

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
    command("check", cmd_check, "verify every version of every item", json_flag=True)
    command("status", cmd_status, "where the vault is and how it is protected", json_flag=True)

    p = command("config", cmd_config, "show or change settings")
    csub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    csub.add_parser("path", help="print where the config file is")
    csub.add_parser("show", help="print every setting in effect")
    csub.add_parser("get").add_argument("key")
    q = csub.add_parser("set")
    q.add_argument("key")
    q.add_argument("value")
    csub.add_parser("unset").add_argument("key")

    for module in _command_modules():
        module.register(sub, command)
    return parser


def _command_modules() -> list[Any]:
    """The other commands' arguments; each module has `register(subparsers, command)`, where
    `command(name, handler, help, json_flag)` adds one. Sync and backup name their handlers
    with `lazy`, and live outside the packages they drive, so building the parser imports
    neither. Imported here, not at the top: they import helpers from this module."""
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
    parser = build_parser()
    args = parser.parse_args(argv)
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
