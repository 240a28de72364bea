"""Keeping the app quick with 10,000 decrypted notes in memory, and letting go of them on lock.

Python's cycle collector walks every live object now and then; with a vault's worth of notes,
titles and folded search text in memory, one full pass takes a tenth of a second or more, and
it lands in the middle of typing. Once the vault is open, those objects live until it locks, so
they are moved out of the collector's way (gc.freeze) and handed back when it locks, where a
collection then frees them.
"""

from __future__ import annotations

import contextlib
import gc

from vault import gcpause


def hold_still() -> None:
    """The vault is open and read: keep its objects out of the collector's passes."""
    gcpause.hold()


def let_go() -> None:
    """The vault is locked: give its objects back to the collector and free them now."""
    gcpause.release()
    gc.collect()


def warm_up() -> None:
    """Load the Markdown grammar the editor highlights with (about 0.15 s the first time), so
    opening the vault does not wait for it. Textual keeps it in a private cache; if that ever
    moves, the editor simply loads it itself."""
    with contextlib.suppress(Exception):
        from textual._tree_sitter import get_language

        get_language("markdown")
