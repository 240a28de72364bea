"""Pausing the cyclic garbage collector around bulk loads.

Unlocking builds tens of thousands of short-lived tuples, dicts and items that form no cycles;
each allocation burst triggers collections that walk every tracked object again (about 40 ms
of an unlock at 10,000 notes). Reference counting still frees everything at once; only the
search for cycles waits until the load is over, and what the load made then ages straight into
the oldest generation (`_settle`).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_depth = 0  # nested or concurrent pauses: the collector comes back when the last one ends
_was_enabled = True
_held = 0  # `hold` calls since the last `release`: objects this program keeps frozen


def hold() -> None:
    """Keep every object alive now out of the collector's passes for good (gc.freeze): a
    vault kept open (the app, the session agent) holds hundreds of thousands that live until
    it locks and form no cycles. Pauses then leave the frozen objects alone, without counting
    them (gc.get_freeze_count walks them all: 40-60 ms at 100,000 notes, at every pause)."""
    global _held
    with _lock:
        _held += 1
        gc.freeze()


def release() -> None:
    """Every object `hold` froze is the collector's again (the vault was locked): gc.unfreeze
    thaws them all, however many holds there were."""
    global _held
    with _lock:
        _held = 0
        gc.unfreeze()


@contextlib.contextmanager
def paused() -> Iterator[None]:
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()  # a program that turned it off keeps it off
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                _settle()
                gc.enable()


def _settle() -> None:
    """Move what the load made into the oldest generation without examining it: otherwise the
    first collection after the pause walks every object the load allocated (about 20 ms at
    10,000 notes) only to promote them. They are still collected when a full collection runs;
    a program that froze objects itself (`hold`, or gc.freeze: counted then) is left alone."""
    if not _held and gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()
