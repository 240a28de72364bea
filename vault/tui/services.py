"""What the app offers its screens, and what it needs of the main screen, as interfaces.

State goes down (the app attaches a session to the main screen, wipes it when locking);
news goes up as messages (vault/tui/messages.py). The few direct calls that remain (a save
asks for a sync, the palette asks the app to lock) go through `AppServices`, so no screen
imports the app and the app's own mixins need not import the screens: vault/tui has no
import cycles (tests/test_architecture.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from textual.app import App

    from vault.config import Config
    from vault.tui.session import Session
    from vault.tui.timefmt import Clock
    from vault.tui.widgets.editor import EditorPane


class AppServices(Protocol):
    """The app as the screens see it (`MainScreen.vault_app`)."""

    config: Config

    @property
    def config_remote(self) -> str: ...

    def hold_keys(self) -> None: ...

    def release_keys(self) -> None: ...

    def local_change(self) -> None: ...

    def mark_active(self) -> None: ...

    def read_sync_status(self) -> None: ...

    def request_sync(self, manual: bool = False) -> None: ...

    def save_setting(self, key: str, value: object) -> None: ...

    def action_lock(self, reason: str = "", end_session: bool = True) -> None: ...

    def action_help(self) -> None: ...


class MainView(Protocol):
    """The main screen as the app's background work sees it."""

    @property
    def pane(self) -> EditorPane: ...

    def schedule_reload(self) -> None: ...

    def set_status(self, key: str, text: str, tooltip: str | None = None) -> None: ...


if TYPE_CHECKING:

    class AppHost(App[int]):
        """For type checkers only: what the app's mixins (BackgroundWork) use of the app."""

        config: Config
        clock: Clock
        session: Session | None
        _main: MainView | None

        def idle_seconds(self) -> float: ...

else:
    AppHost = object
