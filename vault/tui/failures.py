"""Turning an exception into one calm line a person can read, without leaking note text.

Our own errors (VaultError) carry messages written for people and never hold decrypted content.
Anything else might quote a note (a KeyError on a title, a ValueError on a body), so only its
type and where it happened are shown, as the CLI does.
"""

from __future__ import annotations

from pathlib import Path

from textual.worker import Worker

from vault.errors import VaultError


def where(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "?"
    return f"{Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}"


def describe(exc: BaseException) -> str:
    if isinstance(exc, VaultError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        # The file name is left out: it could be a temporary file named after nothing secret,
        # but the message does not need it to be useful.
        return f"the system refused: {exc.strerror}"
    return f"internal error ({type(exc).__name__} at {where(exc)}); please report it"


def title_for(exc: BaseException) -> str:
    return "Could not do that" if isinstance(exc, VaultError | OSError) else "Something went wrong"


class ReportsWorkerErrors:
    """For screens that start workers. Worker.StateChanged does not bubble, so each screen
    hands it to the app's one handler (VaultApp.on_worker_state_changed)."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        handler = getattr(self.app, "on_worker_state_changed", None)  # type: ignore[attr-defined]
        if handler is not None:
            handler(event)
