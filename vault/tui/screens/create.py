"""First run: create the vault (password twice, with a strength hint, and an optional keyfile:
an existing file, or a path where a new random one is made), then show the recovery key once,
with a step that makes sure it was written down."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Footer, Input, LoadingIndicator, Static

from vault.errors import VaultError
from vault.notes.vault import Vault
from vault.paths import expanded
from vault.sealing.crypto import TEST_KDF
from vault.sealing.keys import create_keyfile
from vault.tui.failures import ReportsWorkerErrors
from vault.tui.messages import CreateFailed, VaultOpened, WorkFailed
from vault.tui.screens.entry import (
    TYPED_AHEAD_ENTER,
    EnterTypedAhead,
    display_path,
    hold_keys,
    release_keys,
    strength_markup,
    weak_warning,
)
from vault.tui.session import Session
from vault.tui.welcome import WELCOME_BODY, WELCOME_TITLE


def recovery_lines(key: str, per_line: int = 5) -> str:
    """The recovery key in rows of five groups, so it never breaks inside a group."""
    groups = key.replace(" ", "").split("-")
    rows = ["-".join(groups[i : i + per_line]) for i in range(0, len(groups), per_line)]
    return "\n".join(rows)


class CreateVaultScreen(EnterTypedAhead, ReportsWorkerErrors, Screen[None]):
    AUTO_FOCUS = "#password"
    BINDINGS: ClassVar[list[BindingType]] = [TYPED_AHEAD_ENTER]

    def __init__(self, vault_path: Path, *, test_kdf: bool = False) -> None:
        super().__init__()
        self.vault_path = vault_path
        # Tiny Argon2 parameters, only when a test asks for them explicitly.
        self.test_kdf = test_kdf
        self._weak_accepted: str | None = None  # a weak password confirmed by a second Enter

    def compose(self) -> ComposeResult:
        with Center(), Vertical(classes="card", id="create-card"):
            yield Static("vault", classes="brand")
            yield Static("Create your vault", classes="card-title")
            yield Static(
                "Your notes are encrypted on this computer with a key only your password can "
                "unlock. Nobody can reset a forgotten password, so choose one you will "
                "remember: a few random words work well.",
                classes="card-text",
                markup=False,
            )
            yield Static(display_path(self.vault_path), classes="card-path", markup=False)
            yield Input(password=True, placeholder="Password", id="password")
            yield Static(strength_markup(""), id="strength")
            yield Input(password=True, placeholder="Repeat the password", id="repeat")
            yield Input(
                # Short enough for the card's field at 80 columns (53 cells).
                placeholder="Keyfile (optional): an existing file or a new path",
                id="keyfile",
            )
            yield Static("", id="keyfile-hint", markup=False)
            yield Static("", id="create-message", markup=False)
            yield LoadingIndicator(id="busy")
            with Horizontal(classes="buttons"):
                yield Button("Create vault", id="create", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#busy").display = False
        # On a short terminal (80x24) focusing the password scrolled the card past its title
        # and its one paragraph of advice; from the top the password field is still in view.
        card = self.query_one("#create-card")
        self.call_after_refresh(card.scroll_home, animate=False)

    @on(Input.Changed, "#password")
    def _password_changed(self, event: Input.Changed) -> None:
        self.query_one("#strength", Static).update(strength_markup(event.value))

    @on(Input.Changed, "#keyfile")
    def _keyfile_changed(self, event: Input.Changed) -> None:
        self.query_one("#keyfile-hint", Static).update(keyfile_hint(event.value))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "password":
            if event.value:
                self.set_focus(self.query_one("#repeat"))
        elif event.input.id != "repeat" or event.value:
            self._create()

    @on(Button.Pressed, "#create")
    def _pressed(self) -> None:
        self._create()

    def _say(self, text: str, error: bool = True) -> None:
        message = self.query_one("#create-message", Static)
        message.update(text)
        message.set_class(error, "error")
        # At 80x24 the message sits below the fold (under the keyfile field): a mismatch, or
        # the seconds the key derivation takes, would otherwise show nothing at all.
        self.call_after_refresh(self._show_message)

    def _show_message(self) -> None:
        busy = self.query_one("#busy")
        target = busy if busy.display else self.query_one("#create-message")
        target.scroll_visible(animate=False)

    def _create(self) -> None:
        password = self.query_one("#password", Input).value
        repeat = self.query_one("#repeat", Input).value
        if not password:
            self._say("Choose a password first.")
            self.set_focus(self.query_one("#password"))
            return
        if password != repeat:
            self._say("The two passwords are not the same; type the second one again.")
            repeat_field = self.query_one("#repeat", Input)
            repeat_field.value = ""
            self.set_focus(repeat_field)
            return
        keyfile_text = self.query_one("#keyfile", Input).value.strip()
        try:
            keyfile = expanded(keyfile_text) if keyfile_text else None
        except VaultError as exc:
            self._say(str(exc))
            return
        warning = weak_warning(password)
        if warning and self._weak_accepted != password:
            self._weak_accepted = password  # (Enter again: taken)
            self._say(warning)
            return
        self._set_busy(True)
        hold_keys(self.app)  # for the recovery key screen that follows
        self._say(
            "Creating the vault: measuring this computer to tune the key derivation…", error=False
        )
        self.create(password, keyfile)

    def _set_busy(self, busy: bool) -> None:
        if not busy:
            release_keys(self.app)
        for field in self.query(Input):
            field.disabled = busy
        self.query_one("#create", Button).disabled = busy
        self.query_one("#busy").display = busy

    @work(thread=True, exclusive=True, group="create", exit_on_error=False)
    def create(self, password: str, keyfile: Path | None) -> None:
        made: Path | None = None
        try:
            if keyfile is not None and not keyfile.exists() and not keyfile.is_symlink():
                create_keyfile(keyfile)  # as `vault init --keyfile NEW` does
                made = keyfile
            if self.test_kdf:
                vault, recovery = Vault.create(
                    self.vault_path, password, keyfile=keyfile, kdf=TEST_KDF, allow_weak_kdf=True
                )
            else:
                vault, recovery = Vault.create(self.vault_path, password, keyfile=keyfile)
        except VaultError as exc:
            if made is not None:  # no vault needs it: do not leave a stray secret behind
                made.unlink(missing_ok=True)
            self.post_message(CreateFailed(str(exc)))
            return
        vault.create_note(WELCOME_TITLE, WELCOME_BODY, pinned=True)
        self.post_message(VaultOpened(Session(vault), recovery_key=recovery, keyfile_created=made))

    def on_create_failed(self, message: CreateFailed) -> None:
        message.stop()
        self._set_busy(False)
        self._say(message.text)

    def on_work_failed(self, message: WorkFailed) -> None:
        message.stop()
        self._set_busy(False)
        self._say(message.text)


def keyfile_hint(text: str) -> str:
    """What will happen with the keyfile typed so far."""
    text = text.strip()
    if not text:
        return ""
    try:
        path = expanded(text)
    except VaultError:  # `~someone` typed so far: no such user (yet)
        return "No such user's home folder."
    if path.is_dir():
        return "That is a folder; a keyfile is a file."
    if path.exists():
        return "This file will be needed, with the password, to open the vault."
    return "Nothing there yet: a new random keyfile will be made at that path."


class _WrittenDown(Checkbox, inherit_bindings=False):
    """Space ticks it; Enter is left to the screen, which continues once it is ticked. (A
    checkbox's own Enter would untick it: "space, tab, enter" and "space, enter" both ended
    back on an unticked box.)"""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_button", "Toggle", show=False),
    ]


class RecoveryKeyScreen(Screen[None]):
    """The recovery key, shown once. Continuing needs a tick that says it was written down."""

    AUTO_FOCUS = "#written"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "continue", "Continue", show=False),
    ]

    def __init__(self, recovery_key: str, keyfile: Path | None = None) -> None:
        super().__init__()
        self._key = recovery_key
        self._keyfile = keyfile

    def compose(self) -> ComposeResult:
        with Center(), Vertical(classes="card", id="recovery-card"):
            yield Static("Write down your recovery key", classes="card-title")
            yield Static(
                "If you forget your password, this key is the only way back into your notes. "
                "Write it on paper and keep it somewhere safe, away from this computer. "
                "It is shown only this once.",
                classes="card-text",
                markup=False,
            )
            yield Static(recovery_lines(self._key), id="recovery-key", markup=False)
            if self._keyfile is not None:
                yield Static(
                    f"A new keyfile was made at {self._keyfile}. The vault opens only with it "
                    "and the password (or with the recovery key): keep a copy somewhere safe, "
                    "apart from this computer.",
                    id="keyfile-made",
                    classes="card-text warning",
                    markup=False,
                )
            yield _WrittenDown("I have written down my recovery key", id="written")
            with Horizontal(classes="buttons"):
                yield Button("Continue", id="continue", variant="primary", disabled=True)

    def on_mount(self) -> None:
        # The app may be closing while this screen mounts (quit typed in the same burst): then
        # its widgets are already gone, and there is nothing to focus.
        with contextlib.suppress(NoMatches):
            self.set_focus(self.query_one("#written"))
        # Keys typed ahead while the vault was made must not tick "written down" and go on
        # before the key was even seen: they are dropped, not let through.
        drop = getattr(self.app, "drop_keys", None)
        if drop is not None:
            drop()

    @on(Checkbox.Changed, "#written")
    def _ticked(self, event: Checkbox.Changed) -> None:
        self.query_one("#continue", Button).disabled = not event.value

    def action_continue(self) -> None:
        """Enter on the tick box: on once it is ticked; before, a word on what is missing (it
        did nothing, and said nothing: a first-hour report)."""
        if self.query_one("#written", Checkbox).value:
            self._continue()
        else:
            self.notify(
                "Tick “I have written down my recovery key” first (space ticks it).",
                timeout=5,
                markup=False,
            )

    @on(Button.Pressed, "#continue")
    def _continue(self) -> None:
        self._key = ""
        self.query_one("#recovery-key", Static).update("")
        self.dismiss(None)
