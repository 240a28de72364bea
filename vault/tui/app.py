"""The Textual app: which screen to show, locking, and the one place worker errors are handled.

`make_app` is the one factory the CLI (`run_app`), the tests and the screenshot script use.
Sync and automatic backups run from here too (vault/tui/background.py), so they outlive the
screens; locking and quitting stop them before the key is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from textual import events, work
from textual.app import App, SystemCommand
from textual.binding import BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from vault.config import Config
from vault.errors import ConfigError, VaultError
from vault.hardening import harden
from vault.notes.vault import inspect_vault
from vault.session import agent_client
from vault.storage.store import Store
from vault.tui import failures
from vault.tui.background import BackgroundWork
from vault.tui.keygate import KeyGate
from vault.tui.keys import APP_KEYS, bindings
from vault.tui.memory import fewer_heaps, let_go, warm_up
from vault.tui.messages import Closed, ClosingStep, LockFlushFailed, VaultOpened, WorkFailed
from vault.tui.palette import VaultPalette
from vault.tui.safetext import shown, shown_body
from vault.tui.screens.create import CreateVaultScreen, RecoveryKeyScreen
from vault.tui.screens.dialogs import ConfirmDialog
from vault.tui.screens.help import HelpScreen
from vault.tui.screens.main import MainScreen
from vault.tui.screens.unlock import UnlockScreen
from vault.tui.session import Session, Unsaved
from vault.tui.timefmt import Clock, system_clock

IDLE_CHECK_SECONDS = 5.0
# The session agent's process (*Unlock for the command line*): a program started (`python -m`),
# never imported here; it sits above the faces (tests/test_architecture.py checks it).
AGENT_ENTRY = "vault.agent_main"


class VaultApp(KeyGate, BackgroundWork, App[int]):
    CSS_PATH = "vault.tcss"
    TITLE = "vault"
    BINDINGS: ClassVar[list[BindingType]] = bindings(APP_KEYS)
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        vault_path: Path,
        config: Config,
        *,
        keyfile: Path | None = None,
        test_kdf: bool = False,
        clock: Clock = system_clock,
        cursor_blink: bool = True,
        poll_seconds: float | None = 2.0,
        read_bodies: bool = True,
    ) -> None:
        super().__init__()
        self.vault_path = vault_path
        self.config = config
        self.keyfile = keyfile
        self.test_kdf = test_kdf
        self.clock = clock
        self.cursor_blink = cursor_blink
        self.poll_seconds = poll_seconds
        self.read_bodies = read_bodies
        self.session: Session | None = None
        self._main: MainScreen | None = None
        self._last_activity = time.monotonic()
        self._theme_timer: Timer | None = None
        self._quitting = False
        self._session_tried = False
        self.init_background()
        self.init_key_gate()

    # --- starting -------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._apply_theme()
        self._apply_keymap()
        self.set_interval(IDLE_CHECK_SECONDS, self.check_autolock)
        self._handle_signals()
        self.show_start_screen()
        self.prepare()

    @work(thread=True, exclusive=True, group="prepare", exit_on_error=False)
    def prepare(self) -> None:
        """While the person types the password, load what the main screen will need."""
        warm_up()

    def show_start_screen(self, message: str = "") -> None:
        path = self.vault_path.expanduser()
        if not Store.exists(path) and (not path.exists() or _empty_dir(path)):
            self._show_screen(CreateVaultScreen(path, test_kdf=self.test_kdf))
            return
        try:
            info = inspect_vault(path)
        except VaultError as exc:
            self._show_screen(BrokenVaultScreen(str(exc)))
            return
        # The main screen is built (empty) under the unlock screen while the person types and
        # the key is derived, so opening the vault only has to fill it.
        self._show_screen(self._main_screen())
        # Only the first unlock screen may open with `vault unlock`'s session: after the app
        # locks itself (auto-lock) it must ask for the password again.
        try_session, self._session_tried = not self._session_tried, True
        self.push_screen(UnlockScreen(path, info, self.keyfile, message, try_session=try_session))

    def _main_screen(self) -> MainScreen:
        if self._main is None:
            self._main = MainScreen(
                clock=self.clock, poll_seconds=self.poll_seconds, read_bodies=self.read_bodies
            )
        return self._main

    def _show_screen(self, screen: Screen[Any]) -> None:
        """Make `screen` the one base screen (modals and the unlock screen above it go)."""
        while len(self.screen_stack) > 2:
            self.pop_screen()
        if len(self.screen_stack) == 2:
            if self.screen_stack[-1] is not screen:
                self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def _apply_theme(self) -> None:
        theme = self.config.get("ui.theme")
        if theme in self.available_themes:
            self.theme = theme
        else:
            self.notify(f"Unknown theme {theme!r} in the config; using the default.")
        self.watch(self, "theme", self._theme_changed, init=False)

    def _theme_changed(self, theme: str) -> None:
        # The theme picker changes the theme live while one browses: save once it settles.
        if self._theme_timer is not None:
            self._theme_timer.stop()
        self._theme_timer = self.set_timer(0.8, lambda: self.save_setting("ui.theme", self.theme))

    def _apply_keymap(self) -> None:
        keymap = self.config.data.get("keymap", {})
        if not isinstance(keymap, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in keymap.items()
        ):
            self.notify("The [keymap] table in the config should map names to keys; ignored.")
            return
        if keymap:
            self.set_keymap(keymap)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every toast of the app, screens' and widgets' included, passes here. Their text
        often quotes a title, a tag or a file name from the sync folder, so it is shown as
        text (never markup) with control characters made visible, whatever the caller asked."""
        super().notify(
            shown_body(message),
            title=shown(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def save_setting(self, key: str, value: object) -> None:
        """Remember a choice (theme, preview, sort) in the config file."""
        try:
            if self.config.get(key) == value:
                return
            self.config.set(key, value)
            self.config.save()
        except ConfigError as exc:
            self.notify(str(exc), severity="warning")

    def _handle_signals(self) -> None:
        """A closed terminal or `kill` saves what is typed and locks before exiting."""
        if self.is_headless:
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._terminate)

    def _terminate(self) -> None:
        self.close_vault(force=True)
        self.exit(0)

    # --- opening ------------------------------------------------------------------------------

    def on_vault_opened(self, message: VaultOpened) -> None:
        message.stop()
        self.session = message.session
        self.mark_active()
        # Keys held since enter was pressed stay held until the next screen has its focus:
        # the recovery key screen (on its mount) or the notes (MainScreen.attach).
        if message.recovery_key:
            self.push_screen(
                RecoveryKeyScreen(message.recovery_key, message.keyfile_created),
                lambda _: self.show_main(),
            )
        else:
            self.show_main()

    def show_main(self) -> None:
        if self.session is None:
            return
        main = self._main_screen()
        self.hold_keys()  # until the notes are shown with the focus in the list
        self._show_screen(main)
        main.attach(self.session)
        self.start_background(self.session)

    # --- locking --------------------------------------------------------------------------------

    def action_lock(self, reason: str = "", end_session: bool = True) -> None:
        """Clear the screen at once, then save what was typed and lock the vault. The lock key
        also ends the vault's unlocked session (`vault unlock`); auto-lock locks only the app."""
        session = self.session
        if session is None:
            return
        main = self._main
        pending = main.unsaved() if main is not None else None
        if main is not None:
            main.wipe()
        self.session = None
        self.drop_keys()
        self.stop_background()
        self.clear_notifications()
        self.show_start_screen(reason)
        self.finish_lock(session, pending, end_session)

    @work(thread=True, exclusive=True, group="lock", exit_on_error=False)
    def finish_lock(
        self, session: Session, pending: Unsaved | None, end_session: bool = False
    ) -> None:
        if end_session:
            agent_client.lock(session.vault.path, session.vault.vault_id)
        if pending is not None:
            try:
                session.save_unsaved(pending)
            except Exception as exc:
                self.post_message(LockFlushFailed(session, pending, failures.describe(exc)))
                return
        problem = self._shut(session)
        if problem:
            self.call_from_thread(self.notify, problem[0].upper() + problem[1:], severity="error")

    def _shut(self, session: Session, step: Callable[[], object] | None = None) -> str | None:
        """Stop the sync and other background work at a safe point, make the automatic
        backup if one is due, then lock. Returns why the backup failed, if it did."""
        session.stop_tasks()
        if step is not None:
            step()
        problem = self.backup_on_close(session)
        session.close()
        let_go()
        return problem

    def on_lock_flush_failed(self, message: LockFlushFailed) -> None:
        """Saving on the way to locking failed: the typed text stays in memory (not on screen)
        until it is saved or the person chooses to drop it."""
        session, pending = message.session, message.pending

        def answer(retry: bool | None) -> None:
            if retry:
                self.finish_lock(session, pending)
            else:
                pending.clear()
                self.finish_lock(session, None)

        text = message.text

        self.push_screen(
            ConfirmDialog(
                "Your last changes are not saved",
                f"Saving before locking failed: {text}. Retry, or lock and drop the changes?",
                "Retry",
                cancel="Drop changes",
            ),
            answer,
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "lock":
            return self.session is not None  # and off the footer while there is none
        return True

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_command_palette(self) -> None:
        # Textual's palette, with Enter answered for what was typed (vault.tui.palette).
        if self.use_command_palette and not VaultPalette.is_open(self):
            self.push_screen(VaultPalette(id="--command-palette"))

    def mark_active(self) -> None:
        self._last_activity = time.monotonic()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.MouseDown | events.MouseScrollDown | events.Paste):
            self._last_activity = time.monotonic()
        if isinstance(event, events.Key) and not event.is_forwarded and not self.gate_key(event):
            return  # kept until the key before it has done its work (vault/tui/keygate.py)
        await super().on_event(event)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        # Snapshot tests turn blinking off, so a cursor is never caught half-way.
        widget = event.widget
        if not self.cursor_blink and hasattr(widget, "cursor_blink"):
            widget.cursor_blink = False  # type: ignore[attr-defined]

    def idle_seconds(self) -> float:
        return time.monotonic() - self._last_activity

    def check_autolock(self, now: float | None = None) -> None:
        minutes = self.config.get("ui.autolock_minutes")
        if self.session is None or not minutes or minutes <= 0:
            return
        idle = (now if now is not None else time.monotonic()) - self._last_activity
        if idle >= minutes * 60:
            self.action_lock(f"Locked after {minutes} idle minutes.", end_session=False)

    # --- quitting -------------------------------------------------------------------------------

    async def action_quit(self) -> None:
        if self._theme_timer is not None:  # a theme chosen a moment ago is kept too
            self._theme_timer.stop()
            self.save_setting("ui.theme", self.theme)
        if self._quitting:
            # Asked again while closing: leave the screen now. What is typed is saved; the
            # backup and locking finish before the process ends.
            self.exit(0)
            return
        session = self.session
        if session is None:
            self.exit(0)
            return
        if not self._save_typed(session):
            return
        self._take_off_screen()
        # The screen goes blank at once; the sync stops and the backup is made in a worker,
        # with the closing screen saying what it waits for.
        self._quitting = True
        self._show_screen(ClosingScreen())
        self.quit_in_background(session)

    @work(thread=True, exclusive=True, group="quit", exit_on_error=False)
    def quit_in_background(self, session: Session) -> None:
        problem: str | None = None
        try:
            if session.busy:
                self.post_message(ClosingStep("Stopping the sync at a safe point…"))
            problem = self._shut(
                session,
                step=lambda: self.post_message(
                    ClosingStep("Backing up if anything changed, then locking…")
                ),
            )
        except Exception as exc:  # never keep the person from quitting
            problem = failures.describe(exc)
        finally:
            self.post_message(Closed(f"vault: {problem}" if problem else None))

    def on_closing_step(self, message: ClosingStep) -> None:
        if isinstance(self.screen, ClosingScreen):
            self.screen.say(message.text)

    def on_closed(self, message: Closed) -> None:
        self.exit(0, message=message.message)

    def close_vault(self, *, force: bool = False) -> bool:
        """Save what is typed, stop background work, back up if due, and lock, all before
        returning (a signal or a crash: the process is about to end). False when saving
        failed and the person chose to stay (the text is still in the editor); `force`
        drops it instead."""
        session = self.session
        if session is None:
            return True
        if not self._save_typed(session, force=force):
            return False
        self._take_off_screen()
        self._shut(session)
        return True

    def _save_typed(self, session: Session, *, force: bool = False) -> bool:
        main = self._main
        pending = main.unsaved() if main is not None else None
        if pending is not None:
            try:
                session.save_unsaved(pending)
            except Exception as exc:
                if not force:
                    self._confirm_quit(failures.describe(exc))
                    return False
        return True

    def _take_off_screen(self) -> None:
        """Take every decrypted value off the screen and stop the timers."""
        if self._main is not None:
            self._main.wipe()
        self.session = None
        self.stop_background()

    def _confirm_quit(self, text: str) -> None:
        def answer(quit_anyway: bool | None) -> None:
            if quit_anyway:
                self.close_vault(force=True)
                self.exit(0)

        self.push_screen(
            ConfirmDialog(
                "Quit without saving?",
                f"The open note could not be saved: {text}. Quit anyway and lose the changes?",
                "Quit anyway",
                danger=True,
            ),
            answer,
        )

    # --- errors ---------------------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every worker's failure ends here: one calm notification, never a crash, and never
        the text of an unexpected exception (it could quote a note)."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if error is None:
            return
        if self.session is None and event.worker.group not in ("unlock", "create"):
            return  # work that was under way when the vault locked
        text = failures.describe(error)
        self.notify(text, title=failures.title_for(error), severity="error", timeout=8)
        node = event.worker.node
        if hasattr(node, "post_message"):
            node.post_message(WorkFailed(event.worker.group, text))

    def _fatal_error(self) -> None:
        """An unexpected error in the app itself: report its type and place only. Textual's
        own report prints local variables, which would put decrypted notes on the terminal."""
        if os.environ.get("VAULT_DEBUG"):
            super()._fatal_error()
            return
        import sys

        error = sys.exc_info()[1]
        self.bell()
        self._exit_renderables.append(
            "vault: " + (failures.describe(error) if error else "internal error; please report it")
        )
        self._close_messages_no_wait()

    # --- no screenshots of a vault ----------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            if command.title.casefold() != "screenshot":
                yield command
        if self.session is not None:
            yield SystemCommand("Lock", "Lock the vault now", self.action_lock)
            yield SystemCommand(
                "Unlock for the command line",
                "`vault` commands skip the password until `vault lock` or the idle timeout",
                self.command_line_session,
            )
            yield SystemCommand(
                "Lock the command line",
                "End the unlocked session that `vault unlock` (or the app) started",
                self.end_command_line_session,
            )

    @work(thread=True, exclusive=True, group="cli-session", exit_on_error=False)
    def command_line_session(self) -> None:
        """`vault unlock` from inside the app: the key it already holds goes to the agent."""
        session = self.session
        if session is None:
            return
        vault = session.vault
        minutes = float(self.config.get("session.timeout_minutes"))
        try:
            info = agent_client.start(
                vault.path, vault.vault_id, vault.master_key, minutes * 60, entry=AGENT_ENTRY
            )
        except VaultError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error")
            return
        until = time.strftime("%H:%M", time.localtime(info.expires))
        self.call_from_thread(
            self.notify,
            f"`vault` commands need no password until {until} if left idle "
            f"({minutes:g} min). The lock key ends it.",
        )

    @work(thread=True, exclusive=True, group="cli-session", exit_on_error=False)
    def end_command_line_session(self) -> None:
        session = self.session
        if session is None:
            return
        ended = agent_client.lock(session.vault.path, session.vault.vault_id)
        text = "The command line is locked." if ended else "The command line was not unlocked."
        self.call_from_thread(self.notify, text)

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        self.notify("Screenshots are off inside the vault: they would hold your notes.")

    def deliver_screenshot(self, *args: Any, **kwargs: Any) -> str | None:
        self.notify("Screenshots are off inside the vault: they would hold your notes.")
        return None

    def save_screenshot(self, *args: Any, **kwargs: Any) -> str:
        raise VaultError("screenshots are off inside the vault: they would hold your notes")


class ClosingScreen(Screen[None]):
    """Shown while quitting finishes its work: nothing of the vault is on it."""

    def compose(self):  # type: ignore[no-untyped-def]
        from textual.containers import Center, Vertical
        from textual.widgets import Static

        with Center(), Vertical(classes="card"):
            yield Static("vault", classes="brand")
            yield Static("Closing the vault", classes="card-title")
            yield Static("Saving…", id="closing-step", classes="card-text", markup=False)

    def say(self, text: str) -> None:
        self.query_one("#closing-step").update(text)  # type: ignore[attr-defined]


class BrokenVaultScreen(Screen[None]):
    """The folder is there but is not a vault we can open: say why, and let the person quit."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def compose(self):  # type: ignore[no-untyped-def]
        from textual.containers import Center, Vertical
        from textual.widgets import Footer, Static

        with Center(), Vertical(classes="card"):
            yield Static("vault", classes="brand")
            yield Static("This vault cannot be opened", classes="card-title")
            yield Static(self._text, classes="card-text error", markup=False)
            yield Static("ctrl+q quits.", classes="card-hint")
        yield Footer()


def _empty_dir(path: Path) -> bool:
    try:
        return path.is_dir() and not any(path.iterdir())
    except OSError:
        return False


def make_app(
    vault_path: Path,
    config: Config,
    *,
    keyfile: Path | None = None,
    test_kdf: bool = False,
    clock: Clock = system_clock,
    cursor_blink: bool = True,
    poll_seconds: float | None = 2.0,
    read_bodies: bool = True,
) -> VaultApp:
    """The one way to build the app: for the `vault` command, the tests and the screenshots.

    test_kdf=True makes the first-run screen create the vault with tiny Argon2 parameters; it is
    for tests only and never a default. `clock` fixes "now" for deterministic snapshots.
    read_bodies=False leaves the notes' bodies unread after the list is shown (they are read
    when a note is shown, or when something needs them all): for tests of that state.
    """
    return VaultApp(
        vault_path,
        config,
        keyfile=keyfile,
        test_kdf=test_kdf,
        clock=clock,
        cursor_blink=cursor_blink,
        poll_seconds=poll_seconds,
        read_bodies=read_bodies,
    )


def run_app(vault_path: Path, config: Config, keyfile: Path | None = None) -> int:
    harden()  # the app holds notes in memory: no core dumps (SECURITY.md)
    fewer_heaps()  # (before any thread of the app allocates)
    app = make_app(vault_path, config, keyfile=keyfile)
    try:
        app.run()
    finally:
        # After a crash the vault may still be open: save what was typed and lock it.
        with contextlib.suppress(Exception):
            app.close_vault(force=True)
        _end_stranded_input()
    return app.return_code or 0


def _end_stranded_input() -> None:
    """Textual's driver tells its input thread to end only after it has written the
    terminal's modes back; when the terminal is gone by then (its window closed while the app
    was quitting: tmux's kill-server during a quit at 100,000 notes), that write fails first,
    the thread is never told, and it spins on the dead terminal for good, keeping the
    process alive at full CPU. Everything is saved and locked by now: tell it to end."""
    for thread in threading.enumerate():
        if thread.name != "textual-input" or not thread.is_alive():
            continue
        driver = getattr(getattr(thread, "_target", None), "__self__", None)
        event = getattr(driver, "exit_event", None)
        if isinstance(event, threading.Event):
            event.set()
            thread.join(timeout=2)
