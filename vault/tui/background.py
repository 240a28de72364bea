"""What the app does on its own while the vault is open: sync and automatic backups.

Sync runs in one worker at a time: shortly after unlocking, `sync.debounce_seconds` after the
last change made here, within `sync.watch_seconds` of another device writing to the folder
(a cheap look at its listing, vault.sync.watch), every `sync.interval_seconds`, and when asked
(f9, the palette). A run
asked for while one is under way is remembered and made once that one ends, rather than
queued twice or refused. What it reports lands in the footer; a problem is told once as a
notification and then stays in the footer, so a folder that is gone for an afternoon does not
nag every five minutes.

Automatic backups (`vault.interchange.backup.auto_backup`, which writes nothing when nothing
changed) run
after unlocking, every hour, and when the vault is locked or the app quits, before the key is
dropped. A mixin of VaultApp: its workers belong to the app, so they outlive the screens.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from textual import work
from textual.timer import Timer

from vault.errors import VaultBusyError, VaultError
from vault.interchange.backup import auto_backup, left_out_text
from vault.sync import SyncReport, SyncStatus
from vault.sync.watch import FolderWatch
from vault.tui import failures
from vault.tui.messages import (
    BackupDone,
    FolderChanged,
    SyncFinished,
    SyncProgress,
    SyncStatusRead,
)
from vault.tui.services import AppHost
from vault.tui.session import Session, Stopped
from vault.tui.sync_status import Running, report_problems, report_summary, status_line

FIRST_SYNC_DELAY = 1.0  # after unlocking: the list is on screen first
FIRST_BACKUP_DELAY = 5.0
BACKUP_CHECK_SECONDS = 3600.0
BACKUP_WAITS_FOR_PAUSE = 3.0  # seconds without a key before a scheduled backup starts
_UNSEEN = "\0unseen"  # (no folder is named so)
STATUS_TICK_SECONDS = 30.0  # "synced 2 min ago" moves on; conflicts made elsewhere show
BUSY_RETRY_SECONDS = 10.0  # another sync (the CLI) held the vault's sync lock
PROGRESS_EVERY = 0.1  # seconds between progress messages from a running sync


class BackgroundWork(AppHost):
    def init_background(self) -> None:
        self._bg_timers: list[Timer] = []
        self._debounce: Timer | None = None
        self._retry: Timer | None = None
        self._sync_running = False
        self._sync_again = False
        self._sync_again_manual = False
        self.sync_status: SyncStatus | None = None
        self.sync_progress: Running | None = None
        self.last_report: SyncReport | None = None
        self._told: set[str] = set()  # problems already notified (until they clear)
        self._told_conflicts: set[str] = set()
        self._watch: FolderWatch | None = None
        self._seen_remote: str | None = _UNSEEN  # the folder the last look found configured

    # --- starting and stopping ---------------------------------------------------------------

    def start_background(self, session: Session) -> None:
        """The vault is open: start the timers, a first sync and a backup check."""
        self.stop_background()
        config = self.config
        self._bg_timers.append(self.set_interval(STATUS_TICK_SECONDS, self.read_sync_status))
        self._bg_timers.append(self.set_interval(BACKUP_CHECK_SECONDS, self.scheduled_backup))
        interval = float(config.get("sync.interval_seconds"))
        if self.sync_auto and interval > 0:
            self._bg_timers.append(self.set_interval(interval, self.request_sync))
        self._bg_timers.append(self.set_timer(FIRST_BACKUP_DELAY, self.scheduled_backup))
        watch = float(config.get("sync.watch_seconds"))
        if self.sync_auto and watch > 0:
            self._bg_timers.append(self.set_interval(max(0.2, watch), self._look_at_folder))
        first = self.request_sync if self.sync_auto else self.read_sync_status
        self._bg_timers.append(self.set_timer(FIRST_SYNC_DELAY, first))

    def stop_background(self) -> None:
        """Timers off (locking, quitting); running work is stopped through the Session."""
        for timer in [*self._bg_timers, self._debounce, self._retry]:
            if timer is not None:
                timer.stop()
        self._bg_timers = []
        self._debounce = self._retry = None
        self._sync_running = self._sync_again = self._sync_again_manual = False
        self.sync_status = None
        self.sync_progress = None
        self.last_report = None
        self._told = set()
        self._told_conflicts = set()
        self._watch = None
        self._seen_remote = _UNSEEN

    @property
    def sync_auto(self) -> bool:
        return bool(self.config.get("sync.auto"))

    @property
    def config_remote(self) -> str:
        return str(self.config.get("sync.remote"))

    def clock_ms(self) -> int:
        return int(self.clock().timestamp() * 1000)

    # --- sync ----------------------------------------------------------------------------------

    def local_change(self) -> None:
        """Something was saved here: the footer counts it, and a sync follows once saving
        pauses for `sync.debounce_seconds`."""
        session = self.session
        if session is None:
            return
        try:
            if session.remote(self.config_remote) is None:
                # Nothing to count: without a folder every change is unsent (reading the
                # status would scan them all after each save). The timer reads it anyway.
                return
        except VaultError:
            return
        self.read_sync_status()
        if not self.sync_auto:
            return
        if self._debounce is not None:
            self._debounce.stop()
        delay = max(0.05, float(self.config.get("sync.debounce_seconds")))
        self._debounce = self.set_timer(delay, self._debounced)

    def _look_at_folder(self) -> None:
        session = self.session
        if session is None or session.closing or self._sync_running:
            return  # a run under way reads the folder anyway
        self.watch_folder(session, self.config_remote)

    @work(thread=True, exclusive=True, group="sync-watch", exit_on_error=False)
    def watch_folder(self, session: Session, config_remote: str) -> None:
        """One look at the folder's listing (no file is read); a change brings a sync."""
        try:
            remote = session.remote(config_remote)
            seen, self._seen_remote = self._seen_remote, remote
            if remote is None:
                self._watch = None
                return
            changed = self._watcher(session, remote).changed()
        except Exception:  # only a look: the vault locking meanwhile, or a store error the
            return  # next sync run reports properly
        # A folder set or changed since the last look (`vault remote set` in a shell): its
        # first look only takes a baseline, so without this nothing synced until the folder
        # changed, a save here, or the next interval.
        if changed or seen not in (_UNSEEN, remote):
            self.post_message(FolderChanged(session))

    def _watcher(self, session: Session, remote: str) -> FolderWatch:
        watch = self._watch
        if watch is None or str(watch.remote) != remote:
            watch = self._watch = FolderWatch(Path(remote), session.vault.store.device_id)
        return watch

    def on_folder_changed(self, message: FolderChanged) -> None:
        if message.session is self.session:
            self.request_sync()

    def _debounced(self) -> None:
        self._debounce = None
        self.request_sync()

    def request_sync(self, manual: bool = False) -> None:
        session = self.session
        if session is None or session.closing:
            return
        if self._sync_running:
            self._sync_again = True
            self._sync_again_manual = self._sync_again_manual or manual
            return
        if self._retry is not None:
            self._retry.stop()
            self._retry = None
        try:
            remote = session.remote(self.config_remote)
        except VaultError:
            remote = None
        self._seen_remote = remote  # (a run here needs no look to bring another)
        if remote is None:
            if manual:
                self.notify(
                    "This vault has no sync folder yet: ctrl+p, then “Set sync folder”.",
                    title="Sync",
                    timeout=6,
                )
            self.read_sync_status()
            return
        self._sync_running = True
        self.sync_progress = Running()
        self.show_sync_status()
        self.run_sync(session, self.config_remote, manual)

    @work(thread=True, exclusive=True, group="sync", exit_on_error=False)
    def run_sync(self, session: Session, config_remote: str, manual: bool) -> None:
        last = 0.0

        def progress(phase: str, done: int, total: int) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY or done == total:
                last = now
                self.post_message(SyncProgress(session, phase, done, total))

        report: SyncReport | None = None
        error: str | None = None
        stopped = busy = False
        with contextlib.suppress(Exception):
            # What the folder holds now is read by this run: the watcher's next look compares
            # with it, so only what other devices write from here on brings another run.
            remote = session.remote(config_remote)
            if remote is not None:
                self._watcher(session, remote).rebase()
        try:
            report = session.sync(config_remote, progress=progress, clock_ms=self.clock_ms)
        except Stopped:
            stopped = True
        except VaultBusyError as exc:
            busy, error = True, str(exc)
        except Exception as exc:  # VaultError, or a bug: one calm line either way
            error = failures.describe(exc)
        status = None
        if not stopped:
            with contextlib.suppress(Exception):  # the vault may be locking meanwhile
                status = session.sync_status(config_remote)
        self.post_message(SyncFinished(session, report, status, error, manual, stopped, busy))

    def on_sync_progress(self, message: SyncProgress) -> None:
        if message.session is self.session and self._sync_running:
            self.sync_progress = Running(message.phase, message.done, message.total)
            self.show_sync_status()

    def on_sync_finished(self, message: SyncFinished) -> None:
        if message.session is not self.session:
            return  # the vault was locked meanwhile
        self._sync_running = False
        self.sync_progress = None
        if message.status is not None:
            self.sync_status = message.status
        if message.busy:
            if message.manual:
                self.notify(
                    "Another sync of this vault is running; this one waits for it.", timeout=4
                )
            self._retry = self.set_timer(BUSY_RETRY_SECONDS, self._retry_sync)
        elif message.error is not None:
            self._tell(message.error, "error", title="Sync failed", again=message.manual)
        elif message.report is not None:
            self._after_report(message.report, message.manual)
        self.show_sync_status()
        if self._sync_again and not message.stopped:
            manual = self._sync_again_manual
            self._sync_again = self._sync_again_manual = False
            self.request_sync(manual)

    def _retry_sync(self) -> None:
        self._retry = None
        self.request_sync()

    def _after_report(self, report: SyncReport, manual: bool) -> None:
        self.last_report = report
        problems = report_problems(report)
        # An error that has cleared may be told again if it comes back.
        self._told = {text for _, text in problems if text in self._told}
        for severity, text in problems:
            if "two devices in ways" in text:
                fresh = set(report.conflicts) - self._told_conflicts
                self._told_conflicts = set(report.conflicts)
                # The open note's conflict is told by the editor, more precisely.
                main = self._main
                if main is not None and main.pane.note is not None:
                    fresh.discard(main.pane.note.id)
                if fresh:
                    self.notify(text, title="Conflict", severity="warning", timeout=10)
                continue
            self._tell(text, severity, title="Sync", again=manual)
        if not report.conflicts:
            self._told_conflicts = set()
        if manual:
            self.notify(report_summary(report), title="Synced", timeout=4)
        main = self._main
        if main is not None and (report.pulled or report.merged):
            main.schedule_reload()

    def _tell(self, text: str, severity: str, *, title: str, again: bool = False) -> None:
        """Notify a problem once; after that it stays in the footer until it clears."""
        if text in self._told and not again:
            return
        self._told.add(text)
        self.notify(text, title=title, severity=severity, timeout=10)  # type: ignore[arg-type]

    @work(thread=True, exclusive=True, group="sync-status", exit_on_error=False)
    def read_sync_status(self) -> None:
        session = self.session
        if session is None:
            return
        try:
            status = session.sync_status(self.config_remote)
        except VaultError:
            return
        self.post_message(SyncStatusRead(session, status))

    def on_sync_status_read(self, message: SyncStatusRead) -> None:
        if message.session is self.session:
            self.sync_status = message.status
            self.show_sync_status()

    def show_sync_status(self) -> None:
        main = self._main
        if main is None or self.session is None:
            return
        status = self.sync_status
        text = status_line(status, self.clock(), self.sync_progress)
        tip = None
        if status is not None:
            where = status.remote or "nowhere yet (ctrl+p: Set sync folder)"
            tip = f"Syncs with {where}"
            if status.last_error:
                tip += f"\nLast error: {status.last_error}"
            tip += "\nf9 syncs now; click for details"
        main.set_status("sync", text, tip)

    # --- backups -------------------------------------------------------------------------------

    def scheduled_backup(self) -> None:
        """A backup when one is due: once typing pauses, so a large vault's backup (a second
        or so of work in a thread) does not land between keystrokes."""
        if self.session is None:
            return
        if self.idle_seconds() < BACKUP_WAITS_FOR_PAUSE:
            self._bg_timers.append(self.set_timer(BACKUP_WAITS_FOR_PAUSE, self.scheduled_backup))
            return
        self.backup_in_background(self.session)

    @work(thread=True, exclusive=True, group="auto-backup", exit_on_error=False)
    def backup_in_background(self, session: Session) -> None:
        try:
            with session.task():
                made = auto_backup(session.vault, self.config, reason="schedule")
        except Stopped:
            return
        except Exception as exc:
            self.post_message(BackupDone(session, None, True, failures.describe(exc)))
            return
        left_out = tuple(session.vault.damaged_slot_files) if made is not None else ()
        if left_out:
            said = f"{left_out_text(left_out)}; older backups were kept"
            self.post_message(BackupDone(session, made, True, left_out=said))
            return
        self.post_message(BackupDone(session, made, True))

    def on_backup_done(self, message: BackupDone) -> None:
        if message.session is not self.session:
            return
        if message.error is not None:
            what = "The automatic backup failed" if message.automatic else "The backup failed"
            self._tell(f"{what}: {message.error}", "error", title="Backup", again=True)
        elif message.path is not None:
            what = "Automatic backup" if message.automatic else "Backed up"
            if message.left_out:
                text = f"{what}: {message.path.name}. But {message.left_out}."
                self.notify(text, title="Backup", severity="warning", timeout=15)
                return
            self.notify(f"{what}: {message.path.name}", title="Backup", timeout=5)

    def backup_on_close(self, session: Session) -> str | None:
        """On locking or quitting, after background work has stopped and before the key is
        dropped: an automatic backup if something changed (`backup.on_quit`). Returns a line
        to tell the person if it failed."""
        try:
            made = auto_backup(session.vault, self.config, reason="quit")
        except Exception as exc:
            return f"the automatic backup on quitting failed: {failures.describe(exc)}"
        left_out = tuple(session.vault.damaged_slot_files) if made is not None else ()
        if left_out:
            return f"the automatic backup: {left_out_text(left_out)}"
        return None
