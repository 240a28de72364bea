"""Change the password from the app, as `vault passwd` does: the current password first (an
unlocked screen left alone must not be enough to lock its owner out), the new one twice, with
the strength meter of the first run. The vault's keyfile, if it has one, stays its keyfile;
adding, replacing or dropping a keyfile is `vault passwd --new-keyfile / --no-keyfile`.

Forgot the password: the unlock screen opens the vault with the recovery key and sets a new
password in the same step, as `vault passwd --recovery` does (`RecoverDialog`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, LoadingIndicator, Static

from vault.errors import RecoveryKeyError, VaultError, WrongPasswordError
from vault.notes.vault import Vault, VaultInfo
from vault.paths import expanded
from vault.sealing.crypto import TEST_KDF
from vault.sealing.kdf import KdfParams
from vault.sealing.keys import parse_recovery_key
from vault.textsafe import visible
from vault.tui.failures import describe
from vault.tui.screens.dialogs import Dialog
from vault.tui.screens.entry import strength_markup, weak_warning
from vault.tui.session import Session, Stopped
from vault.wording import some_of

T = TypeVar("T")


class PasswordOutcome(Message):
    """The worker's answer: no error when the password changed, else why not (one line)."""

    def __init__(
        self,
        error: str | None,
        field: str = "",
        *,
        damaged: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.error = error
        self.field = field  # the field to type again
        self.damaged = damaged or []  # files in keys/ that did not read (see `left_behind`)


class NewPasswordDialog(Dialog[T]):
    """The fields every password dialog has: a secret that proves the person may (the current
    password, or the recovery key), the keyfile when one is asked for, the new password with
    the strength meter, and the new one again. Enter moves on to the next empty field and
    acts from the last; a weak new password is taken only after a second Enter that says why.
    A subclass names the fields and does the work (`_work`, in a thread)."""

    AUTO_FOCUS = "#current"
    HEADING = "Change password"
    INTRO = ""
    PROOF = "Current password"
    RECOVERY = False  # whether the proof is the recovery key (its typos told before any work)
    KEYFILE_HINT = "Keyfile (this vault needs it)"
    ACTION = "Change"
    # Whether the keyfile field is shown, and whether it must be filled in.
    keyfile_shown = False
    keyfile_required = False

    def __init__(self, keyfile: Path | None, kdf: KdfParams | None = None) -> None:
        super().__init__()
        self._keyfile = keyfile
        # The new slot's Argon2 parameters: None keeps those of the slot that opened, or
        # measures them on this machine; tiny ones only through the app's explicit test option.
        self._kdf = kdf
        self._weak_accepted: str | None = None  # a weak new password confirmed again

    def compose(self) -> ComposeResult:
        with Vertical(classes="card", id="password-card"):
            yield Label(self.HEADING, classes="dialog-title")
            yield Static(self.INTRO, classes="dialog-text", markup=False)
            # Above the fields, not below: at 80x24 the card scrolls, and what went wrong
            # (a mistyped group of the recovery key, a weak password) must stay in view.
            yield Static("", classes="dialog-hint", id="password-message", markup=False)
            yield Input(password=True, placeholder=self.PROOF, id="current")
            yield Input(str(self._keyfile or ""), placeholder=self.KEYFILE_HINT, id="keyfile")
            yield Input(password=True, placeholder="New password", id="new")
            yield Static(strength_markup(""), id="strength")
            yield Input(password=True, placeholder="Repeat the new password", id="repeat")
            yield LoadingIndicator(id="busy")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(self.ACTION, id="ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#keyfile").display = self.keyfile_shown
        self.query_one("#busy").display = False
        self.query_one("#password-message").display = False  # (until there is something)

    @on(Input.Changed, "#new")
    def _new_changed(self, event: Input.Changed) -> None:
        self.query_one("#strength", Static).update(strength_markup(event.value))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        # Enter moves on to the next empty field, and acts from the last. (An optional
        # keyfile left empty is skipped.)
        order = [f for f in ("current", "keyfile", "new", "repeat") if self._shown(f)]
        field_id = event.input.id or ""
        later = order[order.index(field_id) + 1 :] if field_id in order else []
        empty = next(
            (f for f in later if not self._value(f) and (f != "keyfile" or self.keyfile_required)),
            None,
        )
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
        return field_id != "keyfile" or self.keyfile_shown

    def _value(self, field_id: str) -> str:
        return self.query_one(f"#{field_id}", Input).value

    def _say(self, text: str, field_id: str = "", *, keep: bool = False) -> None:
        message = self.query_one("#password-message", Static)
        message.update(text)
        message.display = bool(text)
        if field_id:
            field = self.query_one(f"#{field_id}", Input)
            if keep:
                field.password = False
            elif field_id in ("current", "new", "repeat"):  # (a secret: typed again, masked)
                field.password = True
                field.value = ""
            self.set_focus(field)
        elif self.focused is None and not self.query_one("#busy").display:
            self.set_focus(self.query_one("#current", Input))  # (the busy fields let it go)

    def _change(self) -> None:
        if self.query_one("#busy").display:
            return
        current, new = self._value("current"), self._value("new")
        if not current:
            self._say(f"Type the {self.PROOF.lower()} first.", "current")
            return
        if self.RECOVERY:
            # A typo (a group, the length, the checksum) is told now, and what was typed
            # stays, shown, so the group named can be checked against the paper rather than
            # 70 characters typed again. A well-formed key is tried in the worker.
            try:
                parse_recovery_key(current)
            except RecoveryKeyError as exc:
                self._say(_sentence(exc), "current", keep=True)
                return
        keyfile: Path | None = None
        if self.keyfile_shown:
            typed = self._value("keyfile").strip()
            if not typed and self.keyfile_required:
                self._say("This vault needs its keyfile: type its path.", "keyfile")
                return
            try:
                keyfile = expanded(typed) if typed else None
            except VaultError as exc:
                self._say(str(exc), "keyfile")
                return
            if keyfile is not None and not keyfile.is_file():
                # (said now, not after an unlock; a new keyfile is `vault passwd --new-keyfile`)
                what = "a folder" if keyfile.is_dir() else "not there"
                self._say(
                    f"The keyfile {visible(str(keyfile))} is {what}: type its path.", "keyfile"
                )
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
        self._say(f"Checking the {self.PROOF.lower()}, then sealing the new password…")
        self._write(current, new, keyfile)

    def _set_busy(self, busy: bool) -> None:
        for field in self.query(Input):
            field.disabled = busy
        self.query_one("#ok", Button).disabled = busy
        self.query_one("#cancel", Button).disabled = busy
        self.query_one("#busy").display = busy

    @work(thread=True, exclusive=True, group="password", exit_on_error=False)
    def _write(self, proof: str, new: str, keyfile: Path | None) -> None:
        try:
            outcome = self._work(proof, new, keyfile)
        except Exception as exc:  # a full disk as much as a VaultError: never stuck busy
            outcome = PasswordOutcome(f"The password was not changed: {describe(exc)}")
        self.post_message(outcome)

    def _work(self, proof: str, new: str, keyfile: Path | None) -> PasswordOutcome:
        """In a thread: check `proof`, write the new password, and say how it went."""
        raise NotImplementedError

    def _done(self, message: PasswordOutcome) -> None:
        raise NotImplementedError

    def on_password_outcome(self, message: PasswordOutcome) -> None:
        if message.error is None:
            self._done(message)
            return
        self._set_busy(False)
        self._say(message.error, message.field)


def _sentence(exc: RecoveryKeyError) -> str:
    """The recovery key's refusal as a sentence."""
    text = str(exc)
    return text[0].upper() + text[1:] + "."


class ChangePasswordDialog(NewPasswordDialog[list[str]]):
    """Dismissed once the new password is written, with the files of keys/ that did not read
    (`left_behind`), or None if cancelled. On a vault that has no password here (opened with
    the recovery key), the recovery key proves it."""

    INTRO = (
        "For this computer: your other devices keep their own password, and the recovery key "
        "still opens the vault."
    )

    def __init__(
        self, session: Session, keyfile: Path | None, kdf: KdfParams | None = None
    ) -> None:
        self._session = session
        self._recovery = not session.vault.has_password
        if self._recovery:
            self.HEADING = "Set a password"
            self.PROOF = "Recovery key"
            self.RECOVERY = True
            self.ACTION = "Set"
        self.keyfile_shown = self.keyfile_required = session.vault.uses_keyfile
        super().__init__(keyfile, kdf)

    def _work(self, proof: str, new: str, keyfile: Path | None) -> PasswordOutcome:
        session = self._session
        try:
            with session.task():
                vault = session.vault
                try:
                    if self._recovery:
                        vault.check_recovery_key(proof)
                    else:
                        vault.check_password(proof, keyfile)
                except RecoveryKeyError as exc:
                    return PasswordOutcome(_sentence(exc), "current")
                except WrongPasswordError:
                    wrong = " or keyfile" if keyfile is not None else ""
                    return PasswordOutcome(f"That is not the current password{wrong}.", "current")
                vault.change_password(new, keyfile=keyfile, kdf=self._kdf)
                return PasswordOutcome(None, damaged=vault.damaged_slot_files)
        except Stopped:
            return PasswordOutcome("The vault locked; the password was not changed.")

    def _done(self, message: PasswordOutcome) -> None:
        self.dismiss(message.damaged)


@dataclass(frozen=True)
class Recovered:
    vault: Vault  # open, with the new password set
    keyfile: Path | None  # the keyfile the new password needs, if any
    damaged: list[str]  # files of keys/ that did not read (`left_behind`)


class RecoverDialog(NewPasswordDialog[Recovered]):
    """Forgot the password: open the vault with its recovery key and set a new password for
    this computer in the same step (as `vault passwd --recovery`). Dismissed with what was
    done (`Recovered`), or None if cancelled. A
    vault that needed a keyfile keeps it if its path is given; left empty, the new password
    opens the vault alone (the keyfile may be what was lost)."""

    HEADING = "Open with the recovery key"
    INTRO = (
        "The recovery key you saved when the vault was made, then a new password for this "
        "computer (the old one stops opening the vault here)."
    )
    PROOF = "Recovery key"
    RECOVERY = True
    KEYFILE_HINT = "Keyfile to keep using (empty: the new password alone)"
    ACTION = "Open"

    def __init__(
        self,
        vault_path: Path,
        info: VaultInfo,
        keyfile: Path | None,
        kdf: KdfParams | None = None,
    ) -> None:
        self._vault_path = vault_path
        self.keyfile_shown = info.needs_keyfile or keyfile is not None
        super().__init__(keyfile, kdf)
        # The vault opened by the worker, until handed over (`_done`). Closed from outside
        # meanwhile (the app quits), the dialog locks it: its key is not left in memory.
        self._recovered: Recovered | None = None
        self._handover = threading.Lock()
        self._gone = False

    def _work(self, proof: str, new: str, keyfile: Path | None) -> PasswordOutcome:
        try:
            vault = Vault.unlock(self._vault_path, recovery_key=proof, bodies="later")
        except RecoveryKeyError as exc:
            return PasswordOutcome(_sentence(exc), "current")
        try:
            vault.change_password(new, keyfile=keyfile, kdf=self._kdf)
            damaged = vault.damaged_slot_files
        except BaseException:
            vault.lock()  # (not left open behind a dialog that stays)
            raise
        with self._handover:
            if self._gone:
                vault.lock()
            else:
                self._recovered = Recovered(vault, keyfile, damaged)
        return PasswordOutcome(None, damaged=damaged)

    def _done(self, message: PasswordOutcome) -> None:
        with self._handover:
            recovered, self._recovered = self._recovered, None
        if recovered is not None:
            self.dismiss(recovered)

    def on_unmount(self) -> None:
        with self._handover:
            self._gone = True
            left, self._recovered = self._recovered, None
        if left is not None:
            left.vault.lock()


def app_kdf(app: object) -> KdfParams | None:
    """Tiny Argon2 parameters for a new password slot only when the app was started with its
    explicit test option (as the first run's vault); else None (measured, or kept)."""
    return TEST_KDF if getattr(app, "test_kdf", False) else None


def left_behind(damaged: list[str]) -> str:
    """What to say when files in keys/ did not read and were left as they were: one may wrap
    the master key under the old password, so the old password is not known to be gone."""
    if not damaged:
        return ""
    one = len(damaged) == 1
    return (
        f" {some_of(damaged, 'keys/')} did not read as {'a key slot' if one else 'key slots'} and "
        f"{'was' if one else 'were'} left as {'it is' if one else 'they are'}: if "
        f"{'it' if one else 'one'} held the old password, move it out of the vault's keys "
        "folder."
    )
