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
import sys

from vault import gcpause
from vault.hardening import libc_call

# While a vault is open the youngest generation is collected after 10,000 new container
# objects rather than 700. Drawing a screen makes thousands of them (Textual's strips and
# segments, most freed at once by reference counting) and the app's caches keep some: with
# the default, moving to the next note set off 8 young collections, and a full one every
# ten notes or so, which walked every object not frozen (Textual's widgets and caches, what
# the warm-ups built): 0.1-0.75 s on this shared machine, in the middle of a key. Measured
# over 20 notes at 10,000 notes: 1.1-1.4 s of collecting with the default, 0.15-0.25 s with
# this (bench/RESULTS.md). Cycles are still found, only in larger batches.
OPEN_THRESHOLDS = (10_000, 10, 10)
_closed_thresholds = gc.get_threshold()


def hold_still() -> None:
    """The vault is open and read: keep its objects out of the collector's passes."""
    global _closed_thresholds
    gcpause.hold()
    if gc.get_threshold() != OPEN_THRESHOLDS:
        _closed_thresholds = gc.get_threshold()
        gc.set_threshold(*OPEN_THRESHOLDS)


def let_go() -> None:
    """The vault is locked: give its objects back to the collector and free them now."""
    gcpause.release()
    gc.set_threshold(*_closed_thresholds)
    gc.collect()


# glibc's mallopt option for the most heaps (arenas) threads may spread over: by default up
# to 8 per core, one per thread that allocates while another holds a heap's lock.
_M_ARENA_MAX = -8
ARENAS = 2


def fewer_heaps() -> None:
    """Let the C allocator keep at most `ARENAS` heaps (Linux with glibc; elsewhere nothing).
    The app's threads (the read-ahead, the unlock, the bodies' reader, the search) each got a
    heap of their own, and what one of them freed could not serve another: at 100,000 notes
    the app peaked 731-740 MiB with glibc's default, 722 MiB with two heaps and 718 MiB with
    one (bench/RESULTS.md). Python allocates under its GIL, so the heaps' locks are hardly
    ever contended; two leave SQLite's and libsodium's work outside the GIL a heap of its
    own. Call it before the threads start."""
    if sys.platform.startswith("linux"):
        libc_call("mallopt", _M_ARENA_MAX, ARENAS)  # (None where there is no mallopt)


def warm_up() -> None:
    """Load the Markdown grammar the editor highlights with (about 0.15 s the first time), so
    opening the vault does not wait for it. Textual keeps it in a private cache; if that ever
    moves, the editor simply loads it itself."""
    with contextlib.suppress(Exception):
        from textual._tree_sitter import get_language

        get_language("markdown")
