"""Change the password from the app, as `vault passwd` does: the current password first (an
unlocked screen left alone must not be enough to lock its owner out), the new one twice, with
the strength meter of the first run. The vault's keyfile, if it has one, stays its keyfile;
adding, replacing or dropping a keyfile is `vault passwd --new-keyfile / --no-keyfile`."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, LoadingIndicator, Static

from vault.errors import VaultError, WrongPasswordError
from vault.paths import expanded
from vault.tui.failures import describe
from vault.tui.screens.create import strength_markup, weak_warning
from vault.tui.screens.dialogs import Dialog
from vault.tui.screens.host import MainHost
from vault.tui.session import Session, Stopped


class PasswordOutcome(Message):
    """The worker's answer: no error when the password changed, else why not (one line)."""

    def __init__(self, error: str | None, field: str = "") -> None:
        super().__init__()
        self.error = error
        self.field = field  # the field to type again


class ChangePasswordDialog(Dialog[bool]):
    """Dismissed with True once the new password is written, None if cancelled."""

    AUTO_FOCUS = "#current"

    def __init__(self, session: Session, keyfile: Path | None) -> None:
        super().__init__()
        self._session = session
        self._uses_keyfile = session.vault.uses_keyfile
        self._keyfile = keyfile
        self._weak_accepted: str | None = None  # a weak new password confirmed again

    def compose(self) -> ComposeResult:
        with Vertical(classes="card", id="password-card"):
            yield Label("Change password", classes="dialog-title")
            yield Static(
                "For this computer: your other devices keep their own password, and the "
                "recovery key still opens the vault.",
                classes="dialog-text",
                markup=False,
            )
            yield Input(password=True, placeholder="Current password", id="current")
            yield Input(
                str(self._keyfile or ""), placeholder="Keyfile (this vault needs it)", id="keyfile"
            )
            yield Input(password=True, placeholder="New password", id="new")
            yield Static(strength_markup(""), id="strength")
            yield Input(password=True, placeholder="Repeat the new password", id="repeat")
            yield Static("", classes="dialog-hint", id="password-message", markup=False)
            yield LoadingIndicator(id="busy")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Change", id="ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#keyfile").display = self._uses_keyfile
        self.query_one("#busy").display = False

    @on(Input.Changed, "#new")
    def _new_changed(self, event: Input.Changed) -> None:
        self.query_one("#strength", Static).update(strength_markup(event.value))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        # Enter moves on to the next empty field, and changes the password from the last.
        order = [f for f in ("current", "keyfile", "new", "repeat") if self._shown(f)]
        field_id = event.input.id or ""
        later = order[order.index(field_id) + 1 :] if field_id in order else []
        empty = next((f for f in later if not self._value(f)), None)
        if event.value and empty is not None:
            self.set_focus(self.query_one(f"#{empty}", Input))
            return
        self._change()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._change()
        elif event.button.id == "cancel":
            self.dismiss(None)

    def action_cancel(self) -> None:
        if not self.query_one("#busy").display:  # (not while the new slot is being written)
            self.dismiss(None)

    def _shown(self, field_id: str) -> bool:
        return field_id != "keyfile" or self._uses_keyfile

    def _value(self, field_id: str) -> str:
        return self.query_one(f"#{field_id}", Input).value

    def _say(self, text: str, field_id: str = "") -> None:
        self.query_one("#password-message", Static).update(text)
        if field_id:
            field = self.query_one(f"#{field_id}", Input)
            if field.password:
                field.value = ""
            self.set_focus(field)
        elif self.focused is None and not self.query_one("#busy").display:
            self.set_focus(self.query_one("#current", Input))  # (the busy fields let it go)

    def _change(self) -> None:
        if self.query_one("#busy").display:
            return
        current, new = self._value("current"), self._value("new")
        if not current:
            self._say("Type the current password first.", "current")
            return
        keyfile: Path | None = None
        if self._uses_keyfile:
            typed = self._value("keyfile").strip()
            if not typed:
                self._say("This vault needs its keyfile: type its path.", "keyfile")
                return
            try:
                keyfile = expanded(typed)
            except VaultError as exc:
                self._say(str(exc), "keyfile")
                return
        if not new:
            self._say("Choose a new password.", "new")
            return
        if new != self._value("repeat"):
            self._say("The two new passwords differ; type the second one again.", "repeat")
            return
        warning = weak_warning(new)
        if warning and self._weak_accepted != new:
            self._weak_accepted = new  # (Enter again: taken)
            self._say(warning)
            return
        self._set_busy(True)
        self._say("Checking the current password, then sealing the new one…")
        self._write(current, new, keyfile)

    def _set_busy(self, busy: bool) -> None:
        for field in self.query(Input):
            field.disabled = busy
        self.query_one("#ok", Button).disabled = busy
        self.query_one("#cancel", Button).disabled = busy
        self.query_one("#busy").display = busy

    @work(thread=True, exclusive=True, group="password", exit_on_error=False)
    def _write(self, current: str, new: str, keyfile: Path | None) -> None:
        session = self._session
        try:
            with session.task():
                vault = session.vault
                try:
                    vault.check_password(current, keyfile)
                except WrongPasswordError:
                    wrong = " or keyfile" if keyfile is not None else ""
                    text = f"That is not the current password{wrong}."
                    self.post_message(PasswordOutcome(text, "current"))
                    return
                vault.change_password(new, keyfile=keyfile)
        except Stopped:
            self.post_message(PasswordOutcome("The vault locked; the password was not changed."))
            return
        except Exception as exc:  # a full disk as much as a VaultError: never stuck busy
            self.post_message(PasswordOutcome(f"The password was not changed: {describe(exc)}"))
            return
        self.post_message(PasswordOutcome(None))

    def on_password_outcome(self, message: PasswordOutcome) -> None:
        if message.error is None:
            self.dismiss(True)
            return
        self._set_busy(False)
        self._say(message.error, message.field)


class PasswordActions(MainHost):
    def action_change_password(self) -> None:
        session = self.session
        if session is None:
            return
        if not session.vault.has_password:
            self.notify(
                "This vault has no password here yet (it was opened with the recovery key): "
                "`vault passwd --recovery` sets one.",
                severity="warning",
                timeout=8,
            )
            return

        def changed(done: bool | None) -> None:
            if done:
                self.notify(
                    "Password changed. The next unlock here asks for the new one; the "
                    "recovery key still opens the vault.",
                    timeout=6,
                )

        keyfile = getattr(self.app, "keyfile", None)
        self.app.push_screen(ChangePasswordDialog(session, keyfile), changed)
