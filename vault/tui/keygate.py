"""Keys reach the widget the person meant, however fast they arrive.

Textual routes a key to the focused widget the moment the app reads it, but what a key does
(enter opens a note, tab moves to the next field, ctrl+n opens a dialog) happens later, in the
widgets' own queues, and a focus change is itself deferred. Keys that arrive meanwhile (a
password manager's auto-type, a fast typist, keys typed while a vault opens) went to the
widget that had the focus before: the second password into the first field, a note's first
words to the list's one-letter keys.

The gate lets a key through only once the previous one has settled (the queues of the widgets
it travels through, the screen and the app are empty), and holds keys while the app says a
change of screen is under way (`hold_keys` until `release_keys`: unlocking, creating a note).
Every wait is bounded, so the gate can delay a key but never swallow it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING

from textual import events

if TYPE_CHECKING:
    from textual.app import App
    from textual.message_pump import MessagePump

    _App = App[int]
else:
    _App = object

SETTLE_LIMIT = 0.5  # seconds a key may wait for the one before it
HOLD_LIMIT = 30.0  # seconds a screen change may hold keys (measuring the key derivation)
SETTLE_ROUNDS = 6  # hops a key's effects are followed (widget, containers, screen, app)
BYPASS = frozenset({"ctrl+q"})  # quitting never waits


class KeyGate(_App):
    def init_key_gate(self) -> None:
        self._held_keys: deque[events.Key] = deque()
        self._replaying: set[int] = set()
        self._gate_task: asyncio.Task[None] | None = None
        self._hold_until = 0.0
        self._last_target: MessagePump | None = None

    # --- what the screens call --------------------------------------------------------------

    def hold_keys(self, seconds: float = HOLD_LIMIT) -> None:
        """A change of screen or focus is under way in a worker: keep keys until it is done."""
        self._hold_until = time.monotonic() + seconds

    def release_keys(self) -> None:
        """The change is done (or failed): the held keys go on, in order, to the new focus."""
        self._hold_until = 0.0

    def drop_keys(self) -> None:
        """Locking: keys meant for a note must not land in the password field."""
        self._held_keys.clear()
        self._hold_until = 0.0

    @property
    def holding_keys(self) -> bool:
        return time.monotonic() < self._hold_until

    @property
    def next_key(self) -> str | None:
        """The key waiting behind the one being handled, if any (a key held down repeats
        faster than the app answers, and the gate keeps the repeats in order)."""
        return self._held_keys[0].key if self._held_keys else None

    # --- the gate ---------------------------------------------------------------------------

    def gate_key(self, event: events.Key) -> bool:
        """True when the app should handle `event` now; False when the gate keeps it."""
        if id(event) in self._replaying:
            self._replaying.discard(id(event))
            self._note_target()
            return True
        if event.key in BYPASS:
            return True
        busy = self._gate_task is not None and not self._gate_task.done()
        if not busy and not self.holding_keys:
            self._note_target()
            if self._sets_things_off(event):
                self._start_gate()
            return True
        self._held_keys.append(event)
        self._start_gate()
        return False

    def _note_target(self) -> None:
        self._ensure_focus()
        self._last_target = self.focused  # type: ignore[attr-defined]

    def _ensure_focus(self) -> None:
        """A key must never go nowhere. Textual focuses a new screen only while the terminal
        has focus, and on return restores only a widget of the screen that was left: a screen
        shown meanwhile (the recovery key, the notes after unlocking) had no focus, and every
        key but tab went unanswered. Such a key gives the focus to the screen's first field."""
        if not self.app_focus:  # type: ignore[has-type]
            self.app_focus = True  # what Textual does on a key: restores the focus it can
        try:
            screen = self.screen  # type: ignore[attr-defined]
        except Exception:  # between screens: nothing to focus yet
            return
        if screen.focused is not None:
            return
        selector = screen.AUTO_FOCUS if screen.AUTO_FOCUS is not None else self.AUTO_FOCUS  # type: ignore[attr-defined]
        wanted = list(screen.query(selector)) if selector else []
        for widget in [*wanted, *screen.focus_chain]:
            if widget.focusable:
                screen.set_focus(widget)
                return

    def _start_gate(self) -> None:
        if self._gate_task is None or self._gate_task.done():
            self._gate_task = asyncio.create_task(self._run_gate())

    def _sets_things_off(self, event: events.Key) -> bool:
        """Whether a key may move the focus or change the screen, so the next must wait for
        it. A letter typed into a text field or the editor cannot: typing runs at full speed."""
        from textual.widgets import Input, TextArea

        target = self._last_target
        if not (event.is_printable and isinstance(target, Input | TextArea)):
            return True
        # A field may name the characters that do change the screen (the editor's `[[` opens
        # the link picker, whose `]]` closes it): keys after one of those wait for it.
        return event.character is not None and event.character in getattr(
            target, "GATE_CHARACTERS", ""
        )

    async def _run_gate(self) -> None:
        settle = True  # the key that started the gate is on its way
        while True:
            if settle:
                await self._settled()
            while self.holding_keys:
                await asyncio.sleep(0.01)
                if not self.holding_keys:
                    await self._settled()
            if not self._held_keys:
                return
            key = self._held_keys.popleft()
            self._replaying.add(id(key))
            self.post_message(key)  # type: ignore[attr-defined]
            # Wait until the app has taken it, then for what it set off.
            deadline = time.monotonic() + SETTLE_LIMIT
            while id(key) in self._replaying and time.monotonic() < deadline:
                await asyncio.sleep(0)
            self._replaying.discard(id(key))
            settle = self._sets_things_off(key)

    async def _settled(self) -> None:
        """Wait (a bounded time) until the key last let through has been dealt with: each
        widget it travels through, the screen and the app handle what was queued for them
        (a marker posted behind it comes back), round after round while something it set
        off is still queued. Traffic that never stops (a sync's progress) cannot hold a key
        up: a round waits only for what was queued before its marker."""
        deadline = time.monotonic() + SETTLE_LIMIT
        for _ in range(SETTLE_ROUNDS):
            nodes = self._key_nodes()
            if nodes is None:
                await asyncio.sleep(0.005)  # between screens: look again shortly
                continue
            markers: list[asyncio.Event] = []
            for node in nodes:
                marker = asyncio.Event()
                if node.call_later(marker.set):
                    markers.append(marker)
            waiting = [asyncio.ensure_future(marker.wait()) for marker in markers]
            if waiting:
                _, late = await asyncio.wait(waiting, timeout=max(0.0, deadline - time.monotonic()))
                for task in late:
                    task.cancel()
                if late:
                    return
            nodes = self._key_nodes()
            if nodes is not None and all(node._message_queue.empty() for node in nodes):
                return

    def _key_nodes(self) -> list[MessagePump] | None:
        """The app, its screen, and the widgets (and their containers) that had or have the
        focus: where a key and what it sets off travel. None between screens."""
        nodes: list[MessagePump] = [self]  # type: ignore[list-item]
        try:
            nodes.append(self.screen)  # type: ignore[attr-defined]
        except Exception:  # no screen yet, or between screens
            return None
        for widget in (self._last_target, self.focused):  # type: ignore[attr-defined]
            if widget is not None:
                nodes += [n for n in widget.ancestors_with_self if n not in nodes]  # type: ignore[attr-defined]
        return [node for node in nodes if not node._closing and not node._closed]
