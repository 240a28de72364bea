"""The unlock screen: opaque, a password field, an optional keyfile, and a clear message when the
password is wrong. Argon2 runs in a worker so the screen stays responsive."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from vault.errors import KeyfileRequiredError, VaultError
from vault.notes.vault import Prefetched, ReadAhead, Vault, VaultInfo
from vault.paths import expanded
from vault.session import agent_client
from vault.tui.data import ALL, SORTS
from vault.tui.failures import ReportsWorkerErrors
from vault.tui.memory import hold_still
from vault.tui.messages import UnlockFailed, VaultOpened, WorkFailed
from vault.tui.screens.entry import (
    TYPED_AHEAD_ENTER,
    EnterTypedAhead,
    display_path,
    hold_keys,
    release_keys,
)
from vault.tui.screens.password_dialogs import RecoverDialog, Recovered, app_kdf, left_behind
from vault.tui.session import Session, Stopped


class UnlockScreen(EnterTypedAhead, ReportsWorkerErrors, Screen[None]):
    AUTO_FOCUS = "#password"

    BINDINGS: ClassVar[list[BindingType]] = [
        TYPED_AHEAD_ENTER,
        Binding("ctrl+r", "recover", "Forgot the password"),
    ]

    def __init__(
        self,
        vault_path: Path,
        info: VaultInfo,
        keyfile: Path | None,
        message: str = "",
        *,
        try_session: bool = False,
    ) -> None:
        super().__init__()
        self.vault_path = vault_path
        self.info = info
        self.keyfile = keyfile
        self._message = message
        # Open with the key of `vault unlock`'s session, if the vault has one running.
        self._try_session = try_session
        # The vault read while the person types, without the key (ReadAhead: its store open,
        # the history scanned, without a snapshot the envelopes read): after Enter the key
        # derivation then has the processor to itself and only the keyed work remains. The
        # envelopes stay for another try after a wrong password; the store is taken once.
        self._prefetched: Prefetched | None = None
        self._read: ReadAhead | None = None
        self._read_done = threading.Event()
        # Set once the vault is open or the screen gone: a read-ahead that ends after that
        # (an unlock waits for it 5 s at most) closes its store itself.
        self._read_unwanted = False
        self._read_lock = threading.Lock()
        self._needs_keyfile = info.needs_keyfile

    def compose(self) -> ComposeResult:
        with Center(), Vertical(classes="card", id="unlock-card"):
            yield Static("vault", classes="brand")
            yield Static("Unlock your notes", classes="card-title")
            yield Static(display_path(self.vault_path), classes="card-path", markup=False)
            yield Input(password=True, placeholder="Password", id="password")
            yield Input(
                str(self.keyfile or ""),
                placeholder="Keyfile (this vault needs one)"
                if self.info.needs_keyfile
                else "Keyfile (only if you set one)",
                id="keyfile",
            )
            yield Static(self._message, id="unlock-message", markup=False)
            yield Static(
                "Forgot the password? ctrl+r opens the vault with the recovery key and sets "
                "a new one.",
                classes="card-hint",
                markup=False,
            )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#keyfile").display = self.info.needs_keyfile or self.keyfile is not None
        if self._message:
            self.query_one("#unlock-message").add_class("error")
        self.read_ahead()
        if self._try_session:
            self._set_busy(True, "Opening with your unlocked session…")
            self.open_from_session()

    @work(thread=True, exclusive=True, group="unlock", exit_on_error=False)
    def open_from_session(self) -> None:
        key = agent_client.fetch_key(self.vault_path, self.info.vault_id)
        vault = None
        if key is not None:
            with contextlib.suppress(VaultError):  # a stale session: ask for the password
                vault = Vault.open_with_key(self.vault_path, key, bodies="later")
        if vault is None:
            self.app.call_from_thread(self._ask_for_password)
            return
        self._opened(vault)

    @work(thread=True, exclusive=True, group="read-ahead", exit_on_error=False)
    def read_ahead(self) -> None:
        read = None
        try:
            read = ReadAhead(self.vault_path)
            reader = read.reader
            self._prefetched = reader.result if reader is not None and reader.result else None
        except VaultError:
            self._prefetched = None  # unlocking reads (and reports) for itself
        finally:
            with self._read_lock:
                if self._read_unwanted and read is not None:
                    read.close()  # the vault opened without it, or the screen is gone
                else:
                    self._read = read
                self._read_done.set()

    def _release_read(self) -> None:
        with self._read_lock:
            self._read_unwanted = True
            read, self._read = self._read, None
        if read is not None:
            read.close()

    def on_unmount(self) -> None:
        self._release_read()

    def _ask_for_password(self) -> None:
        """No session to open with: back to the password, with the focus in its box (a
        disabled field loses the focus, so typing would otherwise go nowhere)."""
        self._set_busy(False, self._message)
        if self._message:
            self.query_one("#unlock-message").add_class("error")
        self.set_focus(self.query_one("#password", Input))

    def _set_busy(self, busy: bool, message: str = "") -> None:
        for field in self.query(Input):
            field.disabled = busy
        status = self.query_one("#unlock-message", Static)
        status.update(message)
        status.set_class(False, "error")

    def _fail(self, text: str) -> None:
        self._set_busy(False)
        release_keys(self.app)
        status = self.query_one("#unlock-message", Static)
        status.update(text)
        status.add_class("error")
        password = self.query_one("#password", Input)
        password.value = ""
        self.set_focus(password)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        password_field = self.query_one("#password", Input)
        keyfile_field = self.query_one("#keyfile", Input)
        if event.input is keyfile_field and not password_field.value:
            self.set_focus(password_field)
            return
        password = password_field.value
        if not password:
            self._fail("Type your password, then press enter.")
            return
        keyfile_text = keyfile_field.value.strip()
        if self._needs_keyfile and not keyfile_text and event.input is password_field:
            status = self.query_one("#unlock-message", Static)
            status.update("Now the keyfile's path, then enter.")
            status.set_class(False, "error")
            self.set_focus(keyfile_field)
            return
        try:
            keyfile = expanded(keyfile_text) if keyfile_text else None
        except VaultError as exc:
            self._fail(str(exc))
            return
        password_field.value = ""  # the widget does not keep the password once it is used
        # A still line, not an animation: drawing frames would slow the key derivation and
        # the decryption that run meanwhile.
        self._set_busy(True, "Unlocking…")
        hold_keys(self.app)  # what is typed meanwhile goes to the notes, once they are shown
        self.unlock(password, keyfile)

    @work(thread=True, exclusive=True, group="unlock", exit_on_error=False)
    def unlock(self, password: str, keyfile: Path | None) -> None:
        # Almost always done long before Enter; if not, finishing it beats starting over.
        self._read_done.wait(timeout=5)
        try:
            # The notes without their bodies: the list needs none, and the bodies are read
            # after it is on screen (MainScreen.warm_search: NoteSource.warm).
            vault = Vault.unlock(
                self.vault_path,
                password=password,
                keyfile=keyfile,
                prefetched=self._prefetched,
                bodies="later",
                read_ahead=self._read,
            )
        except KeyfileRequiredError:
            self.post_message(
                UnlockFailed(
                    "This vault needs its keyfile: the password again, then the keyfile's path "
                    "below.",
                    needs_keyfile=True,
                )
            )
            return
        except VaultError as exc:
            self.post_message(UnlockFailed(str(exc)))
            return
        if keyfile is not None:  # offered again: after a lock, and to change the password
            self.app.keyfile = keyfile  # type: ignore[attr-defined]
        self._opened(vault)

    def _opened(self, vault: Vault) -> None:
        self._prefetched = None
        self._release_read()  # (taken by the unlock, unused, or still being read: see there)
        session = Session(vault)
        self.post_message(VaultOpened(session))
        # While the main screen is being built, read the first list (all notes, the saved
        # order) into the session, so the screen finds it ready.
        if session.vault.listing_pending:
            return  # the first screen is ready; the main screen reads the rest after it
        try:
            with session.task() as check:
                with contextlib.suppress(VaultError):
                    session.source.base(ALL, self.app_sort())
                # Inside the task: a lock at once waits for it, so its `let_go` (the
                # collector's defaults back) can never run before this.
                check()
                hold_still()
        except Stopped:
            return  # locked already

    def app_sort(self) -> str:
        sort = getattr(self.app, "config", None)
        value = sort.get("ui.sort") if sort is not None else "modified"
        return value if value in SORTS else "modified"

    def action_recover(self) -> None:
        """Open with the recovery key and set a new password (RecoverDialog)."""
        if self.query_one("#password", Input).disabled:
            return  # (unlocking already)

        def recovered(result: Recovered | None) -> None:
            if result is None:
                self.set_focus(self.query_one("#password", Input))
                return
            vault, damaged = result.vault, result.damaged
            # Offered again after a lock, and to change the password: the keyfile the new
            # password needs, or none (a keyfile left out of the recovery is not needed now).
            self.app.keyfile = result.keyfile  # type: ignore[attr-defined]
            self.keyfile = result.keyfile
            self.notify(
                "New password set: it opens the vault here from now on, and the recovery key "
                "still does." + left_behind(damaged),
                severity="warning" if damaged else "information",
                timeout=10 if damaged else 8,
            )
            self._set_busy(True, "Opening…")
            self._open_recovered(vault)

        keyfile_text = self.query_one("#keyfile", Input).value.strip()
        try:
            keyfile = expanded(keyfile_text) if keyfile_text else self.keyfile
        except VaultError:
            keyfile = None
        dialog = RecoverDialog(self.vault_path, self.info, keyfile, app_kdf(self.app))
        self.app.push_screen(dialog, recovered)

    @work(thread=True, exclusive=True, group="unlock", exit_on_error=False)
    def _open_recovered(self, vault: Vault) -> None:
        self._read_done.wait(timeout=5)
        self._opened(vault)

    def on_unlock_failed(self, message: UnlockFailed) -> None:
        message.stop()
        if message.needs_keyfile:
            self.query_one("#keyfile").display = True
        text = message.text
        if text.startswith("wrong password"):
            text = text[0].upper() + text[1:] + ". Try again."
        # The focus stays in the password field: put in the keyfile field, the password typed
        # again (as after a wrong one) showed in clear. Enter there goes on to the keyfile.
        self._fail(text)
        if message.needs_keyfile:
            self._needs_keyfile = True

    def on_work_failed(self, message: WorkFailed) -> None:
        message.stop()
        self._fail(message.text)
