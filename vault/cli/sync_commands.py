"""The sync commands of the `vault` CLI: remote, sync, clone, conflicts, resolve.

Registered by vault.cli through `register(subparsers, command)`. Like the rest of the CLI, a
thin face over the domain (vault.sync): every failure a person can cause is one line on stderr
and a non-zero exit.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vault.cli import common
from vault.cli import output as cli_output
from vault.config import Config
from vault.errors import NotFoundError
from vault.notes import lookup
from vault.notes.model import Note, Notebook
from vault.notes.vault import Vault
from vault.paths import expanded
from vault.sealing.envelope import short
from vault.storage.store import Store
from vault.sync.clone import clone
from vault.sync.conflicts import Conflict, ConflictVersion, list_conflicts, resolve
from vault.sync.engine import ProgressCallback, SyncEngine, SyncReport
from vault.sync.setup import remote_info, set_remote, unset_remote
from vault.wording import plural

EXIT_ROLLBACK = 3  # the folder went backwards: reported, local data not rolled back
EXIT_CONFLICTS = 4  # synced, but conflicts wait for a person (`vault conflicts`)

_PHASES = {"receiving": "Receiving", "sending": "Sending"}


@contextlib.contextmanager
def progress_bar(enabled: bool) -> Iterator[ProgressCallback | None]:
    """A rich progress bar on stderr for long runs, when stderr is a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=common.console(stderr=True),
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def update(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(_PHASES.get(phase, phase.capitalize()), total=total)
        bar.update(tasks[phase], completed=done, total=total)

    with bar:
        yield update


# --- remote ----------------------------------------------------------------------------------


def _store(args: argparse.Namespace, config: Config) -> Store:
    path = common.vault_dir(args, config)
    return Store.open(path)


def cmd_remote(args: argparse.Namespace, config: Config) -> int:
    store = _store(args, config)
    try:
        if args.action == "set":
            path = set_remote(store, Path(args.dir))
            common.info(f"This vault now syncs with {path}. Run `vault sync` to sync now.")
        elif args.action == "unset":
            unset_remote(store)
            common.info("This vault no longer syncs (the folder was left as it is).")
        else:
            return _show_remote(store, config, args.json)
    finally:
        store.close()
    return 0


def _show_remote(store: Store, config: Config, as_json: bool) -> int:
    info = remote_info(store, config.get("sync.remote"))
    st = info.status
    doc = {
        "remote": str(info.path) if info.path else None,
        "source": info.source,
        "reachable": info.reachable,
        "problem": info.problem,
        "devices": info.devices,
        "files": info.files,
        "last_sync": common.iso_time(st.last_sync),
        "last_error": st.last_error,
        "unpushed": st.unpushed,
        "conflicts": st.conflicts,
        "pending": st.pending,
        "rollbacks": st.rollbacks,
    }
    if as_json:
        common.emit_json(doc)
        return 0
    if info.path is None:
        common.info("No sync folder is set. `vault remote set DIR` chooses one.")
        return 1
    where = " (from the config's sync.remote)" if info.source == "config" else ""
    common.out(f"remote         {info.path}{where}")
    if info.problem:
        common.out(f"problem        {info.problem}")
    else:
        common.out(f"devices        {info.devices} with a log, {plural(info.files, 'file')}")
    common.out(f"last sync      {common.fmt_time(st.last_sync) or 'never'}")
    if st.last_error:
        common.out(f"last error     {st.last_error}")
    common.out(f"not yet sent   {plural(st.unpushed, 'change')}")
    common.out(f"conflicts      {st.conflicts}")
    if st.pending:
        common.out(f"pending        {plural(st.pending, 'file')} could not be read last time")
    if st.rollbacks:
        common.out(f"rollbacks      {st.rollbacks} reported last time")
    return 0


# --- sync and clone ----------------------------------------------------------------------


def _report(report: SyncReport, as_json: bool) -> int:
    if as_json:
        common.emit_json(report.to_json())
    else:
        for line in report.lines():
            common.out(line)
    if report.rollbacks:
        sys.stderr.write(
            "vault: the sync folder went backwards (see ROLLBACK above); your local notes "
            "were not rolled back\n"
        )
        return EXIT_ROLLBACK
    if report.not_sent is not None:
        # Changes came in, but none went out: a script must not take that for a sync.
        sys.stderr.write(cli_output.error_line(f"nothing was sent: {report.not_sent}"))
        return 1
    return EXIT_CONFLICTS if report.conflicts else 0


def cmd_sync(args: argparse.Namespace, config: Config) -> int:
    with common.open_vault(args, config) as vault:
        engine = SyncEngine(vault, config_remote=config.get("sync.remote"), lock_timeout=args.wait)
        with progress_bar(not args.json) as progress:
            report = engine.sync(progress)
        return _report(report, args.json)


def cmd_clone(args: argparse.Namespace, config: Config) -> int:
    local = common.vault_dir(args, config)
    keyfile = common.keyfile_arg(args)
    password = recovery = new_password = None
    if args.recovery:
        recovery = common.read_secret("Recovery key: ", "VAULT_RECOVERY_KEY", "recovery key")
        common.info("Choose a password for this device's copy.")
        new_password = common.read_new_password()
    else:
        password = common.read_secret("Password: ", "VAULT_PASSWORD", "vault password")
    from vault.sealing.crypto import TEST_KDF

    if args.insecure_test_kdf:
        common.info("warning: tiny KDF parameters (--insecure-test-kdf); for tests only")
    with progress_bar(not args.json) as progress:
        vault, report = clone(
            Path(args.dir),
            local,
            password=password,
            keyfile=keyfile,
            recovery_key=recovery,
            new_password=new_password,
            kdf=TEST_KDF if args.insecure_test_kdf else None,
            allow_weak_kdf=args.insecure_test_kdf,
            progress=progress,
        )
    with vault:
        notes = len(vault.all_notes())
        if args.json:
            common.emit_json({"vault": str(local), "notes": notes, "sync": report.to_json()})
            return EXIT_ROLLBACK if report.rollbacks else EXIT_CONFLICTS if report.conflicts else 0
        common.out(f"Cloned the vault into {local}: {plural(notes, 'note')}.")
        common.out(f"This device syncs with {expanded(args.dir).resolve()}.")
        waiting = report.pending or report.rollbacks or report.conflicts
        return _report(report, False) if waiting else 0


# --- conflicts ---------------------------------------------------------------------------


def _describe(vault: Vault, version: ConflictVersion) -> str:
    who = "this device" if version.mine else f"device {short(version.device)}"
    if version.deleted:
        return f"{'mine' if version.mine else 'theirs'}: deleted on {who}"
    when = common.fmt_time(getattr(version.item, "modified", None))
    return f"{'mine' if version.mine else 'theirs'}: {who}, {when} ({version.version[:8]})"


def _version_json(vault: Vault, version: ConflictVersion) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": version.version,
        "device": version.device,
        "mine": version.mine,
        "deleted": version.deleted,
    }
    item = version.item
    if isinstance(item, Note):
        doc.update(common.note_json(vault, item))
    elif isinstance(item, Notebook):
        doc.update({"name": item.name, "parent": item.parent})
    return doc


def _find_conflict(vault: Vault, ref: str) -> Conflict:
    """A conflict named as a note is (vault.notes.lookup): id, short id, title or part of it."""
    found = lookup.pick(
        ref,
        list_conflicts(vault),
        key=lambda c: (c.item_id, c.title),
        describe=lambda c: lookup.Candidate(c.item_id, c.title),
        what="conflict",
    )
    if found is None:
        raise NotFoundError(f"no conflict matches '{ref}'; `vault conflicts` lists them")
    return found


def cmd_conflicts(args: argparse.Namespace, config: Config) -> int:
    with common.open_vault(args, config) as vault:
        if args.item:
            return _show_conflict(vault, _find_conflict(vault, args.item), args.json)
        conflicts = list_conflicts(vault)
        if args.json:
            common.emit_json(
                [
                    {
                        "id": c.item_id,
                        "kind": c.kind,
                        "title": c.title,
                        "versions": [_version_json(vault, v) for v in c.versions],
                    }
                    for c in conflicts
                ]
            )
            return 0
        if not conflicts:
            common.info("No conflicts.")
            return 0
        for c in conflicts:
            common.out(f"{short(c.item_id)}  {c.kind:8}  {cli_output.field(c.title)}")
            for v in c.versions:
                common.out(f"            {_describe(vault, v)}")
        common.info(
            "See one with `vault conflicts ID`; settle it with `vault resolve ID mine|theirs|both`."
        )
    return 0


def _show_conflict(vault: Vault, conflict: Conflict, as_json: bool) -> int:
    if as_json:
        common.emit_json(
            {
                "id": conflict.item_id,
                "kind": conflict.kind,
                "title": conflict.title,
                "versions": [_version_json(vault, v) for v in conflict.versions],
            }
        )
        return 0
    from rich.table import Table

    # Text cells, never markup strings: a body's "[do not sign]" is text, not a style.
    table = Table(show_lines=True, expand=True)
    for v in conflict.versions:
        table.add_column(cli_output.text(_describe(vault, v)), overflow="fold", ratio=1)
    table.add_row(*(_text(v) for v in conflict.versions))
    cli_output.console().print(table)
    return 0


def _text(version: ConflictVersion) -> Any:
    item = version.item
    if version.deleted:
        return cli_output.text("(deleted)")
    if isinstance(item, Note):
        title = cli_output.text(f"# {item.title}", "bold")
        return title.append_text(cli_output.text(f"\n\n{item.body}", multiline=True))
    if isinstance(item, Notebook):
        return cli_output.text(f"notebook: {item.name}")
    return cli_output.text("(does not open)")


def cmd_resolve(args: argparse.Namespace, config: Config) -> int:
    with common.open_vault(args, config) as vault:
        conflict = _find_conflict(vault, args.item)
        written = resolve(vault, conflict.item_id, args.choice, args.version)
        kept = {"mine": "your version", "theirs": "their version", "both": "both versions"}
        common.info(f"Kept {kept[args.choice]} of {short(conflict.item_id)}.")
        for extra in written[1:]:
            common.info(f"Their version is now a separate note {short(extra.id)}.")
        common.info("`vault sync` sends the decision to your other devices.")
    return 0


# --- registration ------------------------------------------------------------------------
