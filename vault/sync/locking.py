"""One sync at a time per local vault.

Two `vault sync` runs (or the app's background sync and a command) on one machine share a
device id, so they must not both append to the device's log. An advisory flock on a file in the
local vault serialises them; the kernel drops it when the process exits however it exits, so it
can never go stale the way lock files in a shared folder do (the shared folder has none).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from vault.errors import VaultBusyError

LOCK_NAME = ".sync.lock"


@contextlib.contextmanager
def sync_lock(vault_path: Path, timeout: float) -> Iterator[None]:
    """Hold the vault's sync lock, waiting up to `timeout` seconds (0: do not wait)."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: no second sync is expected from the same vault
        yield
        return
    fd = os.open(vault_path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise VaultBusyError(
                        "another sync of this vault is running; try again when it finishes"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
