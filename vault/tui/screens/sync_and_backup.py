"""The main screen's side of sync and backups: sync now, the sync panel, choosing or dropping
the sync folder, conflicts, back up now, the list of backups, Markdown export and import, and
checking the vault. A mixin of MainScreen; the running sync itself belongs to the app
(vault/tui/background.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TypeVar

from textual import work

from vault.sync import set_remote, unset_remote
from vault.textsafe import visible
from vault.tui.failures import describe
from vault.tui.messages import FolderChosen, JobDone, JobProgress, OpenConflict
from vault.tui.screens.backups import (
    BackupsScreen,
    ExportDialog,
    back_up_now,
    export_notes,
    made_text,
)
from vault.tui.screens.conflicts import ConflictListScreen, ConflictScreen
from vault.tui.screens.dialogs import ConfirmDialog
from vault.tui.screens.entry import display_path
from vault.tui.screens.host import MainHost
from vault.tui.screens.import_check import (
    BRING_BACK_WARNING,
    CHECK_ADVICE,
    IMPORT_ADVICE,
    FindingsDialog,
    ImportChoice,
    ImportDialog,
    acknowledge_incident,
    bring_back_damaged,
    brought_back_text,
    check_findings,
    check_title,
    checked_text,
    conflicts_text,
    import_findings,
    import_notes,
    imported_text,
    run_check,
)
from vault.tui.screens.sync_panel import SyncFolderDialog, SyncPanel
from vault.tui.session import Session, Stopped
from vault.wording import plural

T = TypeVar("T")


class SyncAndBackup(MainHost):
    _findings: JobDone | None = None  # the last check's or import's, for "Show the findings"
    _job_started = 0.0  # (monotonic) when the last check or import began
    _acknowledged: JobDone | None = None  # the findings whose altered history was read
    # --- sync ------------------------------------------------------------------------------

    def action_sync_now(self) -> None:
        self.leave_note()  # what is typed goes out with this sync
        self.vault_app.request_sync(manual=True)

    def action_sync_panel(self) -> None:
        session = self.session
        if session is None:
            return
        app = self.vault_app
        config = app.config

        def chosen(what: str | None) -> None:
            if what == "sync":
                self.action_sync_now()
            elif what == "folder":
                self.action_set_sync_folder()
            elif what == "stop":
                self.action_stop_syncing()
            elif what == "conflicts":
                self.action_conflicts()

        self.app.push_screen(
            SyncPanel(
                session,
                app.config_remote,
                clock=self.clock,
                auto=bool(config.get("sync.auto")),
                interval=float(config.get("sync.interval_seconds")),
                debounce=float(config.get("sync.debounce_seconds")),
                report=app.last_report,
            ),
            chosen,
        )

    def action_set_sync_folder(self, typed: str | None = None, error: str = "") -> None:
        session = self.session
        if session is None:
            return
        current = typed if typed is not None else (session.remote(self.vault_app.config_remote))

        def chosen(value: str | None) -> None:
            if value and self.session is session:
                self.choose_folder(session, value)

        self.app.push_screen(SyncFolderDialog(current or "", error), chosen)

    @work(thread=True, exclusive=True, group="sync-folder", exit_on_error=False)
    def choose_folder(self, session: Session, typed: str) -> None:
        try:
            folder = set_remote(session.vault.store, Path(typed))
        except Exception as exc:
            self.post_message(FolderChosen(session, typed, None, describe(exc)))
            return
        self.post_message(FolderChosen(session, typed, str(folder)))

    def on_folder_chosen(self, message: FolderChosen) -> None:
        if message.session is not self.session:
            return
        if message.folder is None:
            self.action_set_sync_folder(message.typed, message.error or "")
            return
        self.notify(
            f"This vault now syncs with {display_path(Path(message.folder))}.",
            title="Sync",
            timeout=5,
        )
        self.vault_app.request_sync(manual=True)

    def action_stop_syncing(self) -> None:
        session = self.session
        if session is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes and self.session is session:
                self.stop_syncing(session)

        self.app.push_screen(
            ConfirmDialog(
                "Stop syncing this vault?",
                "This vault stops sending and receiving changes. The sync folder and its files "
                "stay as they are, and so do your other devices.",
                "Stop syncing",
            ),
            confirmed,
        )

    @work(thread=True, exclusive=True, group="sync-folder", exit_on_error=False)
    def stop_syncing(self, session: Session) -> None:
        unset_remote(session.vault.store)
        left = session.remote(self.vault_app.config_remote)
        text = "This vault no longer syncs."
        if left:
            text = f"This vault now syncs with the config's sync.remote: {left}."
        self.post_message(JobDone(session, text, "Sync", then="status"))

    # --- conflicts -------------------------------------------------------------------------

    def action_conflicts(self) -> None:
        session = self.session
        if session is None:
            return
        self.leave_note()
        note = self.current_note()
        if note is not None and note.conflict:
            self._open_conflict(session, note.id)
            return
        if not session.vault.store.conflicted_ids():
            self.notify("No conflicts: every note has one version.", timeout=3)
            return
        screen = ConflictListScreen(session, clock=self.clock, notebook_path=self.notebook_path)
        screen.on_change = self._conflict_settled
        self.app.push_screen(screen)

    def on_open_conflict(self, message: OpenConflict) -> None:
        if self.session is not None:
            self.leave_note()
            self._open_conflict(self.session, message.note_id)

    def _open_conflict(self, session: Session, item_id: str) -> None:
        def done(text: str | None) -> None:
            if text:
                self.notify(text, timeout=5)
                self._conflict_settled(text)

        self.app.push_screen(
            ConflictScreen(session, item_id, clock=self.clock, notebook_path=self.notebook_path),
            done,
        )

    def _conflict_settled(self, text: str) -> None:
        self.schedule_reload()
        self.vault_app.local_change()  # the decision goes to the other devices

    # --- backups and export ----------------------------------------------------------------

    def action_backup_now(self) -> None:
        session = self.session
        if session is None:
            return
        self.leave_note()
        self.set_status("message", "[$accent]backing up…[/]")
        self.backup_now(session)

    @work(thread=True, exclusive=True, group="backup-now", exit_on_error=False)
    def backup_now(self, session: Session) -> None:
        def progress(done: int, total: int | None) -> None:
            if total:
                text = f"[$accent]backing up… {done * 100 // total}%[/]"
                self.post_message(JobProgress(session, text))

        report = self._job(
            session, "Backup", lambda: back_up_now(session, self.vault_app.config, progress)
        )
        if report is not None:
            self.post_message(JobDone(session, made_text(report), "Backup"))

    def _job(
        self, session: Session, title: str, run: Callable[[], T], then: str | None = None
    ) -> T | None:
        """`run()` in a worker: its result, or None when the vault locked meanwhile (Stopped)
        or it failed, which is reported as "The <title> failed: …" (and `then` done, as
        after a job that ended well: an import that failed midway kept what it wrote)."""
        try:
            return run()
        except Stopped:
            return None
        except Exception as exc:
            text = f"The {title.lower()} failed: {describe(exc)}"
            self.post_message(JobDone(session, text, title, error=True, then=then))
            return None

    def action_backups(self) -> None:
        session = self.session
        if session is None:
            return

        def closed(what: str | None) -> None:
            if what == "export":
                self.action_export_markdown()

        self.app.push_screen(
            BackupsScreen(session, self.vault_app.config, clock=self.clock), closed
        )

    def action_export_markdown(self) -> None:
        session = self.session
        if session is None:
            return
        self.leave_note()
        count = self.sidebar_data.all
        suggested = f"~/vault-export-{date.fromtimestamp(self.clock().timestamp()):%Y-%m-%d}"

        def confirmed(folder: Path, yes: bool | None) -> None:
            if yes and self.session is session:
                self.set_status("message", "[$accent]exporting…[/]")
                self.export(session, folder)

        def chosen(folder: Path | None) -> None:
            if folder is None or self.session is not session:
                return
            self.app.push_screen(
                ConfirmDialog(
                    "Write unencrypted files?",
                    f"{count:,} note{'s' if count != 1 else ''} will be written as plain "
                    f"Markdown to {folder}. Anyone who can read that folder can read them.",
                    "Write files",
                    danger=True,
                ),
                lambda yes: confirmed(folder, yes),
            )

        self.app.push_screen(ExportDialog(suggested, count), chosen)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def export(self, session: Session, folder: Path) -> None:
        def progress(done: int, total: int | None) -> None:
            counted = f" {done:,}/{total:,}" if total else ""
            self.post_message(JobProgress(session, f"[$accent]exporting…{counted}[/]"))

        report = self._job(session, "Export", lambda: export_notes(session, folder, progress))
        if report is None:
            return
        files = f" and {plural(report.attachments, 'attachment')}" if report.attachments else ""
        books = ""
        if report.notebooks:
            books = f" in {report.notebooks} folder{'s' if report.notebooks != 1 else ''}"
        self.post_message(
            JobDone(
                session,
                f"Exported {plural(report.notes, 'note')}{files}{books} to {report.folder}. These "
                "files are not encrypted: delete them when you are done.",
                "Export",
            )
        )

    def action_import_markdown(self) -> None:
        session = self.session
        if session is None:
            return
        self.leave_note()

        def chosen(choice: ImportChoice | None) -> None:
            if choice is not None and self.session is session:
                self._job_started = time.monotonic()
                self._findings = None  # (the last job's: not this one's)
                self.set_status("message", "[$accent]importing…[/]")
                self.import_folder(session, choice)

        chosen_notebook = self._sidebar_notebook()  # (as a new notebook's parent)
        here = self.notebook_path(chosen_notebook.ref) if chosen_notebook else ""
        if visible(here) != here:
            here = ""  # (a name with control characters is not put in a field to edit)
        self.app.push_screen(ImportDialog(here), chosen)

    @work(thread=True, exclusive=True, group="import", exit_on_error=False)
    def import_folder(self, session: Session, choice: ImportChoice) -> None:
        def progress(done: int, total: int | None) -> None:
            counted = f" {done:,}/{total:,}" if total else ""
            self.post_message(JobProgress(session, f"[$accent]importing…{counted}[/]"))

        report = self._job(
            session,
            "Import",
            lambda: import_notes(
                session,
                choice.folder,
                inline_tags=choice.inline_tags,
                notebook=choice.notebook,
                progress=progress,
            ),
            then="reload",
        )
        if report is not None:
            text = imported_text(report)
            details = import_findings(report)
            self.post_message(
                JobDone(
                    session,
                    text,
                    "Import",
                    error=bool(report.skipped),
                    then="reload",
                    details=details,
                    advice=IMPORT_ADVICE,
                )
            )

    def action_check_vault(self) -> None:
        session = self.session
        if session is None:
            return
        self.leave_note()  # what is typed is checked too
        self._job_started = time.monotonic()
        self._findings = None  # (the last job's: not this one's)
        self.set_status("message", "[$accent]checking…[/]")
        self.check_vault(session)

    @work(thread=True, exclusive=True, group="check", exit_on_error=False)
    def check_vault(self, session: Session) -> None:
        def progress(done: int, total: int | None) -> None:
            if total:
                # (versions synced in meanwhile are not in the total: never past 100%)
                text = f"[$accent]checking… {min(100, done * 100 // total)}%[/]"
                self.post_message(JobProgress(session, text))

        found = self._job(session, "Check", lambda: run_check(session, progress))
        if found is None:
            return
        report, titles = found
        text = checked_text(report)
        conflicts = conflicts_text(report)
        if report.ok:
            text += " Everything opens." + (f" {conflicts}" if conflicts else "")
            self.post_message(JobDone(session, text, "Check"))
            return
        details = check_findings(report, titles) + ((conflicts,) if conflicts else ())
        self.post_message(
            JobDone(
                session,
                text,
                check_title(report),
                error=True,
                then="acknowledge" if report.history else None,
                details=details,
                advice=CHECK_ADVICE,
            )
        )

    def action_bring_back_damaged(self) -> None:
        session = self.session
        if session is None or not session.vault.damaged_notes():
            return

        def confirmed(yes: bool | None) -> None:
            if yes and self.session is session:
                self.leave_note()
                self.set_status("message", "[$accent]bringing back…[/]")
                self.bring_back(session)

        self.app.push_screen(
            ConfirmDialog("Bring back damaged notes", BRING_BACK_WARNING, "Bring back"),
            confirmed,
        )

    @work(thread=True, exclusive=True, group="bring-back", exit_on_error=False)
    def bring_back(self, session: Session) -> None:
        result = self._job(
            session, "Bringing back", lambda: bring_back_damaged(session), then="reload"
        )
        if result is not None:
            text = brought_back_text(result)
            done = JobDone(session, text, "Damaged notes", error=bool(result.left), then="reload")
            self.post_message(done)

    @work(thread=True, exclusive=True, group="check", exit_on_error=False)
    def acknowledge_history(self, session: Session) -> None:
        self._job(session, "Check", lambda: acknowledge_incident(session))

    def action_show_findings(self) -> None:
        """The last check's or import's findings (kept until the next one)."""
        found, session = self._findings, self.session
        if found is None or found.session is not session:
            return

        def closed(read: bool | None) -> None:
            # Only once read, with Close: an altered history is not warned of again.
            unread = found.then == "acknowledge" and self._acknowledged is not found
            if read and unread and self.session is session:
                self._acknowledged = found
                self.acknowledge_history(session)

        self.app.push_screen(
            FindingsDialog(found.title, found.text, found.details, found.advice), closed
        )

    def on_job_progress(self, message: JobProgress) -> None:
        if message.session is self.session:
            self.set_status("message", message.text)

    def on_job_done(self, message: JobDone) -> None:
        session = message.session
        if session is not self.session:
            return
        self.set_status("message", "")
        if message.then == "status":
            self.vault_app.read_sync_status()
        elif message.then == "reload":
            self.schedule_reload()
            self.vault_app.local_change()  # the new notes go to the other devices
        if message.details:
            self._findings = message
            # Opened at once for a person waiting for it; one who typed meanwhile (in a note,
            # say) would lose keys to it, and its Close to an Enter: told how to open it.
            waited = time.monotonic() - self._job_started
            if self.vault_app.idle_seconds() >= waited:
                self.action_show_findings()
                return
            self.notify(
                f"{message.text} ctrl+p, then “Show the findings”, lists them.",
                title=message.title,
                severity="error" if message.error else "information",
                timeout=15,
            )
            return
        severity = "error" if message.error else "information"
        timeout = 10 if message.error else 6
        self.notify(message.text, title=message.title, severity=severity, timeout=timeout)
