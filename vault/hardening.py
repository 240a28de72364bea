"""Keeping plaintext out of core dumps and away from same-user debuggers.

Every process of the vault that holds decrypted notes or the key (the CLI, the app, the session
agent) calls `harden()` first. It imports only the standard library: the agent stays small.
"""

from __future__ import annotations

import contextlib
import ctypes
import resource
from typing import Any

_PR_SET_DUMPABLE = 4
_PR_GET_DUMPABLE = 3


def libc_call(name: str, *args: Any) -> int | None:
    """Call a C library function; None where it does not exist (not Linux, no libc)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(getattr(libc, name)(*args))
    except (OSError, AttributeError):
        return None


def harden() -> None:
    """No core dumps (a crash would write memory, notes included, to disk), and not dumpable:
    other processes of the same (non-root) user can then neither ptrace this process nor read
    its memory through /proc/<pid>/mem. The core limit is inherited by the editor we start,
    which holds the note too; "not dumpable" ends at exec, as the kernel decides."""
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    libc_call("prctl", _PR_SET_DUMPABLE, 0, 0, 0, 0)


def dumpable() -> bool | None:
    """Whether this process may be dumped or ptraced by its owner (None where unknown)."""
    value = libc_call("prctl", _PR_GET_DUMPABLE, 0, 0, 0, 0)
    return None if value is None or value < 0 else bool(value)
