"""Argon2id for passwords (argon2-cffi), alone: the parameters a key slot stores, and the
derivation, which may be started ahead in a thread (`argon2id_ahead`).

Kept apart from vault.sealing.crypto (which re-exports all of it) so that starting the KDF of
an unlock loads Argon2 and nothing else: no libsodium, no base64. `vault` with the password in
VAULT_PASSWORD starts it before its other modules load (vault.notes.ahead), and whatever is
imported before Argon2 starts is time the KDF cannot hide.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, NamedTuple

from vault.errors import WeakParametersError

if TYPE_CHECKING:
    from typing import Any

KEY_BYTES = 32  # what one derivation gives (vault.sealing.crypto.KEY_BYTES)


def normalise_password(password: str) -> bytes:
    """NFC, so the same password typed on macOS (NFD input) and Linux opens the vault."""
    return unicodedata.normalize("NFC", password).encode("utf-8")


class KdfParams(NamedTuple):
    """Argon2id cost parameters; memory in KiB as argon2 counts it. (A named tuple, not a
    dataclass: the dataclasses module loads `inspect`, 10-13 ms of each command before its
    Argon2 starts, time the KDF cannot hide.)"""

    memory_kib: int
    time_cost: int
    parallelism: int

    # Refuse to create below this (unless the caller explicitly asks for test parameters)...
    FLOOR_MEMORY_KIB = 64 * 1024
    FLOOR_TIME = 2
    # ...and refuse to read above this: a tampered slot must not exhaust memory or time.
    MAX_MEMORY_KIB = 4 * 1024 * 1024
    MAX_TIME = 64
    MAX_PARALLELISM = 16

    def check_readable(self) -> None:
        if not (8 * self.parallelism <= self.memory_kib <= self.MAX_MEMORY_KIB):
            raise WeakParametersError(
                f"key slot asks for Argon2 memory {self.memory_kib} KiB, outside the accepted "
                "range; the slot is damaged or hostile"
            )
        if not (1 <= self.time_cost <= self.MAX_TIME):
            raise WeakParametersError(
                f"key slot asks for Argon2 time cost {self.time_cost}; "
                "the slot is damaged or hostile"
            )
        if not (1 <= self.parallelism <= self.MAX_PARALLELISM):
            raise WeakParametersError(
                f"key slot asks for Argon2 parallelism {self.parallelism}; "
                "the slot is damaged or hostile"
            )

    def check_creatable(self) -> None:
        self.check_readable()
        if self.memory_kib < self.FLOOR_MEMORY_KIB or self.time_cost < self.FLOOR_TIME:
            raise WeakParametersError(
                "Argon2 parameters below the floor (64 MiB, t=2); "
                "weak parameters are only for tests and need the explicit test option"
            )


# Tiny parameters for tests; reachable only through an explicit option (never a default).
TEST_KDF = KdfParams(memory_kib=1024, time_cost=1, parallelism=1)
DEFAULT_KDF = KdfParams(memory_kib=256 * 1024, time_cost=3, parallelism=2)


# Derivations started ahead (`argon2id_ahead`), by their exact inputs, until taken.
_ahead: dict[tuple[bytes, bytes, KdfParams], Any] = {}


def argon2id_ahead(password: bytes, salt: bytes, params: KdfParams) -> None:
    """Start `argon2id(password, salt, params)` in a thread now: the first `argon2id` call
    with exactly these inputs waits for it instead of deriving again. The command line starts
    the one its unlock will ask for before it loads its own modules (Argon2 runs outside the
    GIL, so the loading is hidden behind it). Nothing is derived that the call would not."""
    import threading

    key = (password, salt, params)
    if key in _ahead:
        return
    done: list[bytes | BaseException] = []
    started = threading.Event()

    def run() -> None:
        try:
            done.append(_argon2id(password, salt, params, started))
        except BaseException as exc:  # (the waiting call derives again and raises itself)
            done.append(exc)
        finally:
            started.set()

    thread = threading.Thread(target=run, name="vault-kdf-ahead", daemon=True)
    _ahead[key] = (thread, done)
    thread.start()
    # Until Argon2 has begun (outside the GIL): else the new thread waits for this one to
    # give up the GIL, up to the interpreter's switch interval (5 ms), before it begins.
    started.wait(1.0)


def argon2id(password: bytes, salt: bytes, params: KdfParams) -> bytes:
    ahead = _ahead.pop((password, salt, params), None) if _ahead else None
    if ahead is not None:
        thread, done = ahead
        thread.join()
        if done and isinstance(done[0], bytes):
            return done[0]
    return _argon2id(password, salt, params)


def _argon2id(password: bytes, salt: bytes, params: KdfParams, started: Any = None) -> bytes:
    # Imported here: a command opened by the unlocked session never derives a key.
    from argon2.low_level import Type, hash_secret_raw

    if started is not None:
        started.set()  # (argon2 is loaded: what follows is its call, which frees the GIL)
    return hash_secret_raw(
        secret=password,
        salt=salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=KEY_BYTES,
        type=Type.ID,
        version=19,
    )
