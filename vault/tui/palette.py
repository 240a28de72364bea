"""The command palette: Textual's, with Enter answered for what was typed.

Textual's palette searches its providers in a worker as each letter is typed, and Enter acts
on the list as it stands. Typed at machine speed (`new notebook` and Enter), the list was still
the one before the typing was searched, and Enter ran its first line: the help, or a jump to a
tag, and the keys after it then landed in the notes list as commands (a rename, in a first-hour
test). Here Enter waits for the search of what was typed, and the keys typed after Enter wait
(vault.tui.keygate) until the palette has closed and what it ran has opened: a dialog's field
gets its first letters.
"""

from __future__ import annotations

import time
from functools import partial

from textual import on
from textual.command import CommandPalette
from textual.widgets import Input
from textual.worker import WorkerState

from vault.tui.screens.entry import hold_keys, release_keys

# How long Enter waits for the search of what was typed, and the keys after it for the palette
# to close: bounds, never reached in practice (a search of the providers takes milliseconds).
ANSWER_WAIT = 2.0
POLL = 0.01


class VaultPalette(CommandPalette):
    @on(Input.Submitted)
    def _answer_for_what_was_typed(self, event: Input.Submitted) -> None:
        # Textual's own handler (`_select_or_command`) runs below, once the list is current;
        # preventing the default keeps it from running now, on the list as it stands.
        event.stop()
        event.prevent_default()
        hold_keys(self.app)  # typed after Enter: for what it opens
        self._answer_when_searched(time.monotonic() + ANSWER_WAIT)

    def _searching(self) -> bool:
        group = CommandPalette._GATHER_COMMANDS_GROUP
        busy = (WorkerState.PENDING, WorkerState.RUNNING)
        return any(w.node is self and w.group == group and w.state in busy for w in self.workers)

    def _answer_when_searched(self, deadline: float) -> None:
        if self._searching() and time.monotonic() < deadline:
            self.set_timer(POLL, partial(self._answer_when_searched, deadline))
            return
        self._select_or_command()
        # Enter may have only moved the highlight (the palette stays), or set off a selection
        # that closes the palette and runs a command (through the list's messages): the held
        # keys go on once the palette is gone, or soon if it stays.
        self.app.set_timer(POLL, partial(self._release_when_closed, time.monotonic() + 0.3))

    def _release_when_closed(self, deadline: float) -> None:
        if self in self.app.screen_stack and time.monotonic() < deadline:
            self.app.set_timer(POLL, partial(self._release_when_closed, deadline))
            return
        # After what the palette ran (queued behind this by `call_later`): the gate then waits
        # for the screen it opened to be built before a held key goes on.
        self.app.call_later(release_keys, self.app)
