"""Change the password from the app (the main screen's action): `ChangePasswordDialog` asks
for the current password (or, on a vault opened with the recovery key, the recovery key)."""

from __future__ import annotations

from vault.tui.screens.host import MainHost
from vault.tui.screens.password_dialogs import ChangePasswordDialog, app_kdf, left_behind


class PasswordActions(MainHost):
    def action_change_password(self) -> None:
        session = self.session
        if session is None:
            return
        recovery = not session.vault.has_password

        def changed(damaged: list[str] | None) -> None:
            if damaged is None:
                return
            done = "Password set." if recovery else "Password changed."
            self.notify(
                done + " The next unlock here asks for the new one; the recovery key still "
                "opens the vault." + left_behind(damaged),
                severity="warning" if damaged else "information",
                timeout=10 if damaged else 6,
            )

        keyfile = getattr(self.app, "keyfile", None)
        self.app.push_screen(ChangePasswordDialog(session, keyfile, app_kdf(self.app)), changed)
