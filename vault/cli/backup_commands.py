"""`vault backup ...`, `vault export markdown` and `vault import markdown`: thin faces over
`vault.interchange.backup` and `vault.interchange.markdown_io` (registered by
`vault.cli.build_parser`)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vault.cli import output as cli_output
from vault.cli.common import (
    emit_json,
    fmt_time,
    info,
    keyfile_arg,
    offer_new_password,
    open_vault,
    out,
    read_secret,
    vault_dir,
)
from vault.config import Config
from vault.errors import InvalidInputError, VaultError, WrongPasswordError
from vault.fsutil import make_private_dirs, storage_error
from vault.interchange import backup, markdown_io
from vault.interchange.backup_format import Progress
from vault.notes.vault import Vault, inspect_vault
from vault.paths import expanded
from vault.sealing.envelope import short
from vault.storage.store import Store
from vault.wording import agree, plural

# A progress bar appears only if the work is still going after this long.
PROGRESS_DELAY = 0.5


# --- helpers -----------------------------------------------------------------------------------


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def progress_bar(description: str) -> Iterator[Progress | None]:
    """A callback drawing a rich progress bar on stderr, only when stderr is a terminal and
    only once the work has taken longer than PROGRESS_DELAY; it vanishes when done."""
    if not _stderr_is_terminal():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

    started = time.monotonic()
    bar: Progress | None = None
    task: Any = None

    def update(done: int, total: int | None) -> None:
        nonlocal bar, task
        if bar is None:
            if time.monotonic() - started < PROGRESS_DELAY:
                return
            bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                TaskProgressColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            bar.start()
            task = bar.add_task(description, total=total)
        bar.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if bar is not None:
            bar.stop()


def _have_terminal() -> bool:
    try:
        fd = os.open("/dev/tty", os.O_RDWR | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return False
    os.close(fd)
    return sys.stdin.isatty()


def confirm(question: str) -> bool:
    if not _have_terminal():
        raise InvalidInputError("refusing without confirmation; add --yes")
    try:
        answer = cli_output.ask(question).strip().lower()
    except EOFError:
        return False
    return answer in ("y", "yes")


def _counts(live: dict[str, int]) -> str:
    return (
        f"{plural(live.get('note', 0), 'note')}, {plural(live.get('notebook', 0), 'notebook')}, "
        f"{plural(live.get('tag', 0), 'tag')}"
    )


def _backup_secret(args: argparse.Namespace, env: str = "VAULT_PASSWORD") -> dict[str, Any]:
    """The secret that opens a backup's own key slots: --recovery, else a password."""
    if args.recovery:
        return {"recovery_key": read_secret("Recovery key: ", "VAULT_RECOVERY_KEY", "recovery key")}
    return {
        "password": read_secret("Password of the backup: ", env, "backup password"),
        "keyfile": keyfile_arg(args),
    }


def _with_retries(args: argparse.Namespace, attempt: Callable[[dict[str, Any]], Any]) -> Any:
    """Run `attempt(secret)`, asking again after a mistyped password when a person is typing."""
    tries = 3 if not args.recovery and "VAULT_PASSWORD" not in os.environ else 1
    for n in range(tries):
        try:
            return attempt(_backup_secret(args))
        except WrongPasswordError as exc:
            if n == tries - 1:
                raise
            info(f"{exc}; try again")
    raise AssertionError("unreachable")


# --- vault backup ... --------------------------------------------------------------------------


def cmd_backup_create(args: argparse.Namespace, config: Config) -> int:
    with open_vault(args, config, scheduled_backup=False) as vault:
        if args.file:
            target = expanded(args.file)
        else:
            target = backup.backup_dir(config)
            try:
                make_private_dirs(target)  # every folder made is private, not the last only
            except OSError as exc:
                raise storage_error(exc, target) from None
        with progress_bar("Backing up") as progress:
            report = backup.create_backup(
                vault, target, history=not args.no_history, overwrite=args.force, progress=progress
            )
    if args.json:
        emit_json(
            {
                "path": str(report.path),
                "vault_id": report.vault_id,
                "backup_id": report.backup_id,
                "created": report.created.isoformat(),
                "operations": report.ops,
                "history": report.history,
                "bytes": report.size,
                "slots_left_out": list(report.slots_left_out),
            }
        )
    else:
        what = "with history" if report.history else "current versions only"
        size = backup.size_text(report.size)
        info(f"Backed up {plural(report.ops, 'version')} ({what}, {size}) to:")
        out(str(report.path))
    if report.slots_left_out:
        info(f"warning: {backup.left_out_text(report.slots_left_out)}")
    return 0


def cmd_backup_verify(args: argparse.Namespace, config: Config) -> int:
    path = expanded(args.file)
    backup.read_backup_header(path)  # not a backup, or damaged: say so before any prompt

    def attempt(secret: dict[str, Any]) -> backup.VerifyReport:
        with progress_bar("Verifying") as progress:
            return backup.verify_backup(path, progress=progress, **secret)

    report: backup.VerifyReport = _with_retries(args, attempt)
    if args.json:
        emit_json(
            {
                "path": str(report.path),
                "ok": report.ok,
                "vault_id": report.vault_id,
                "backup_id": report.backup_id,
                "created": report.created.isoformat(),
                "opened_with": report.opened_with,
                "history": report.history,
                "parts": report.parts,
                "operations": report.ops,
                "versions": report.versions,
                "items": report.items,
                "live": report.live,
                "damaged": report.damaged,
            }
        )
    else:
        out(f"Backup of vault {short(report.vault_id)} made {fmt_time(_ms(report.created))}")
        parts = f"{report.parts} part{'s' if report.parts != 1 else ''} verified"
        out(
            f"{parts}; {plural(report.versions, 'version')} of {plural(report.items, 'item')} "
            f"({_counts(report.live)}) open with the {report.opened_with}."
            if report.ok
            else f"{parts}; {plural(report.versions, 'version')} of "
            f"{plural(report.items, 'item')} read."
        )
        for item_id, reason in sorted(report.damaged.items()):
            out(f"  damaged: {reason} ({short(item_id)})")
        if report.ok:
            out("The backup is good.")
        else:
            damaged = len(report.damaged)
            out(
                f"{plural(damaged, 'item')} {agree(damaged, 'does', 'do')} not open: the vault "
                f"held {agree(damaged, 'it', 'them')} damaged."
            )
    return 0 if report.ok else 1


def cmd_backup_restore(args: argparse.Namespace, config: Config) -> int:
    path = expanded(args.file)
    header = backup.read_backup_header(path)
    target = vault_dir(args, config)
    try:
        merge = Store.exists(target)
    except OSError as exc:  # a parent we may not look into
        raise storage_error(exc, target) from None
    if merge:
        with progress_bar("Restoring") as progress:
            report = _merge(args, config, path, progress)
        new_password = None
    elif args.recovery:
        report, new_password = _restore_with_recovery(args, path, target)
    else:

        def attempt(secret: dict[str, Any]) -> backup.RestoreReport:
            with progress_bar("Restoring") as progress:
                return backup.restore_backup(path, target, progress=progress, **secret)

        report = _with_retries(args, attempt)
        new_password = None
    if args.json:
        emit_json(
            {
                "vault": str(report.vault_path),
                "vault_id": report.vault_id,
                "new_vault": report.new_vault,
                "device_id": report.device_id,
                "operations_read": report.ops_read,
                "operations_added": report.ops_added,
                "operations_already_there": report.ops_known,
                "resealed": report.resealed,
                "damaged": report.damaged,
                "counts": report.counts,
                "new_password": new_password is not None,
            }
        )
        return 0
    for item_id, reason in sorted(report.damaged.items()):
        info(f"warning: left out a damaged version: {reason} ({short(item_id)})")
    if report.new_vault:
        out(f"Restored the backup of {fmt_time(_ms(header.created))} as a new vault at:")
        out(f"    {report.vault_path}")
        out(f"{_counts(report.counts)}, {plural(report.counts.get('versions', 0), 'version')}.")
        if new_password is not None:
            out("It opens with your new password, and with the recovery key of the backup.")
        else:
            out(
                "It opens with the password and recovery key the vault had when the backup "
                "was made."
            )
            if args.recovery:
                info(
                    "To set a new password: `vault passwd --recovery` (or VAULT_NEW_PASSWORD "
                    "when restoring)."
                )
    else:
        out(
            f"Merged the backup into {report.vault_path}: "
            f"{plural(report.ops_added, 'version')} added, "
            f"{report.ops_known} already there (newer versions stay current)."
        )
        if report.resealed:
            out(f"{plural(report.resealed, 'version')} re-sealed under the vault's current key.")
    return 0


def _restore_with_recovery(
    args: argparse.Namespace, path: Path, target: Path
) -> tuple[backup.RestoreReport, str | None]:
    """Restore into a new vault with the recovery key, and offer a new password in the same
    step: someone restoring with the recovery key has usually lost the password. The new one is
    chosen before anything is written (two that differ change nothing), and set once the
    vault is in place; the recovery key still opens it."""
    recovery = read_secret("Recovery key: ", "VAULT_RECOVERY_KEY", "recovery key")
    new_password = offer_new_password(
        "Choose a new password for the restored vault (Enter keeps the backup's)."
    )
    keyfile = keyfile_arg(args)  # the new password needs it too, if one is given
    if new_password is not None and keyfile is not None and not keyfile.is_file():
        raise InvalidInputError(f"no keyfile at {keyfile}; nothing was restored")
    with progress_bar("Restoring") as progress:
        report = backup.restore_backup(path, target, recovery_key=recovery, progress=progress)
    if new_password is not None:
        with Vault.unlock(
            report.vault_path, recovery_key=recovery, kinds=frozenset({"tag"})
        ) as vault:
            vault.change_password(new_password, keyfile=keyfile)
    return report, new_password


def _merge(
    args: argparse.Namespace, config: Config, path: Path, progress: Progress | None
) -> backup.RestoreReport:
    with open_vault(args, config, scheduled_backup=False) as vault:
        if not backup.backup_needs_secret(vault, path):
            return backup.merge_backup(vault, path, progress=progress)
        info("The vault's master key was rotated since this backup; it needs its own secret.")
        if not args.recovery and "VAULT_BACKUP_PASSWORD" in os.environ:
            return backup.merge_backup(
                vault, path, progress=progress, **_backup_secret(args, "VAULT_BACKUP_PASSWORD")
            )
        return _with_retries(
            args, lambda secret: backup.merge_backup(vault, path, progress=progress, **secret)
        )


def cmd_backup_list(args: argparse.Namespace, config: Config) -> int:
    folder = backup.backup_dir(config)
    vault_id = None
    if not args.all:
        with contextlib.suppress(VaultError):
            vault_id = inspect_vault(vault_dir(args, config)).vault_id
    found = backup.list_backups(folder, vault_id)
    if args.json:
        emit_json(
            {
                "folder": str(folder),
                "backups": [
                    {
                        "path": str(b.path),
                        "vault_id": b.vault_id,
                        "created": b.created.isoformat() if b.created else None,
                        "bytes": b.size,
                        "automatic": b.automatic,
                        "problem": b.problem,
                    }
                    for b in found
                ],
            }
        )
        return 0
    if not found:
        info(f"No backups in {folder}. `vault backup create` makes one.")
        return 0
    info(f"Backups in {folder} (newest first):")
    for b in found:
        kind = "auto" if b.automatic else "manual"
        if b.problem:
            out(f"  {cli_output.field(b.path.name)}  UNREADABLE: {b.problem}")
        else:
            when = fmt_time(_ms(b.created)) if b.created else "?"
            name = cli_output.field(b.path.name)  # any program can name a file there
            out(f"  {name}  {when}  {backup.size_text(b.size):>10}  {kind}")
    return 0


def _ms(when: Any) -> int:
    return int(when.timestamp() * 1000)


# --- vault export markdown / vault import markdown ---------------------------------------------


def cmd_export(args: argparse.Namespace, config: Config) -> int:
    folder = expanded(args.folder).absolute()
    markdown_io.check_export_target(folder)  # before any prompt
    with open_vault(args, config) as vault:
        count = len(vault.notes())
        info(
            f"warning: this writes {plural(count, 'note')} UNENCRYPTED to {folder}. Anyone who "
            "can read that folder can read them, and deleted files can linger on disk."
        )
        if not args.yes and not confirm("Export in plaintext?"):
            info("Nothing exported.")
            return 1
        with progress_bar("Exporting") as progress:
            report = markdown_io.export_markdown(vault, folder, progress=progress)
    files = f" and {plural(report.attachments, 'attachment')}" if report.attachments else ""
    info(
        f"Exported {plural(report.notes, 'note')}{files} in "
        f"{plural(report.notebooks, 'notebook')} to {report.folder}."
    )
    if report.attachments_missing:
        info(
            f"{plural(report.attachments_missing, 'attachment')} could not be written (not on "
            "this device yet, or damaged); their links still say attachment:NAME."
        )
    return 0


def cmd_import(args: argparse.Namespace, config: Config) -> int:
    folder = expanded(args.folder)
    with open_vault(args, config) as vault, progress_bar("Importing") as progress:
        report = markdown_io.import_markdown(
            vault,
            folder,
            notebook=args.notebook,
            with_inline_tags=args.inline_tags,
            progress=progress,
        )
    if args.json:
        emit_json(
            {
                "folder": str(report.folder),
                "imported": report.imported,
                "unchanged": report.unchanged,
                "notebooks_created": report.notebooks_created,
                "skipped": report.skipped,
                "other_files": report.other_files,
                "attachments": report.attachments,
                "left_alone": report.left_alone,
                "front_matter_kept": report.front_matter_kept,
            }
        )
    else:
        info(
            f"Imported {plural(report.imported, 'note')} "
            f"({plural(report.notebooks_created, 'new notebook')}) and "
            f"{plural(report.attachments, 'attachment')}; "
            f"{report.unchanged} already in the vault were skipped."
        )
        if report.other_files:
            info(f"{plural(report.other_files, 'other file')} left alone:")
        for rel, reason in sorted(report.left_alone.items()):
            info(f"  left alone: {cli_output.field(str(rel))}: {reason}")
        for rel, reason in sorted(report.front_matter_kept.items()):
            info(
                f"  front matter kept as text: {cli_output.field(rel)}: "
                f"{cli_output.field(reason)} (its title, tags and dates were not read)"
            )
        for rel, reason in sorted(report.skipped.items()):
            info(f"  not imported: {cli_output.field(str(rel))}: {reason}")
    return 1 if report.skipped else 0


# --- registration ------------------------------------------------------------------------------
