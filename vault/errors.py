"""One exception hierarchy for everything the vault can refuse to do.

Every message is a single line a person can act on. No message ever carries decrypted content:
only opaque item ids, paths the user gave us, and counts.
"""

from __future__ import annotations


class VaultError(Exception):
    """Base of every error the vault reports to a person; the CLI exits with `exit_code`."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- the vault folder ------------------------------------------------------------------------


class VaultNotFoundError(VaultError):
    """There is no vault at the path (and we were not asked to create one)."""


class NotAVaultError(VaultError):
    """The path exists but does not hold a vault we can read."""


class VaultExistsError(VaultError):
    """Refusing to create a vault over an existing one."""


class UnsupportedFormatError(VaultError):
    """A header, envelope or file names a format version or algorithm we do not support."""


class StorageError(VaultError):
    """The disk refused a write (full, read-only, permissions); nothing was changed."""


class VaultBusyError(VaultError):
    """Another process holds the store for longer than we are willing to wait."""


# --- unlocking -------------------------------------------------------------------------------


class AuthError(VaultError):
    """The secret offered does not open the vault."""

    exit_code = 2


class WrongPasswordError(AuthError):
    pass


class KeyfileRequiredError(AuthError):
    pass


class KeyfileError(AuthError):
    """The keyfile is unreadable or wrong."""


class RecoveryKeyError(AuthError):
    """The recovery key is malformed, mistyped, or does not open this vault."""


class PasswordUnavailableError(VaultError):
    """We would have to prompt for a secret, but there is no terminal and no variable."""


class AgentError(VaultError):
    """The unlocked session (`vault unlock`) could not be started or reached."""


class StaleSessionError(AuthError):
    """The unlocked session holds a key this vault no longer uses (it was rekeyed)."""


class WeakParametersError(VaultError):
    """KDF parameters below the floor at creation, or absurd ones when reading."""


# --- items -----------------------------------------------------------------------------------


class IntegrityError(VaultError):
    """Something sealed failed to verify: tampered, truncated, or from another vault."""

    def __init__(self, message: str, item_id: str | None = None) -> None:
        super().__init__(message)
        self.item_id = item_id


class CorruptItemError(IntegrityError):
    """One item did not open; every other item still does."""


class NotFoundError(VaultError):
    """No note, notebook or tag by that name."""


class AmbiguousError(VaultError):
    """A name or id prefix matches more than one thing."""


class AttachmentMissing(VaultError):
    """An attachment's bytes are not on this device yet (sync brings them); the note and its
    list of attachments are fine. Exit status 5, so scripts can retry after a sync."""

    exit_code = 5


class InvalidInputError(VaultError):
    """A value the user gave cannot be used (empty title, bad notebook path, ...)."""


class EditorError(VaultError):
    """The external editor failed or could not be started."""


class ConflictError(VaultError):
    """The item changed underneath the caller (another process or a sync) since it was read."""


class UnsettledConflictError(ConflictError):
    """The item's versions conflict and wait for a person; it cannot be edited until then.
    Exit status 4, as `vault sync` uses while conflicts wait."""

    exit_code = 4


# --- sync and backup (used by their issues; defined here so there is one hierarchy) -----------


class RemoteError(VaultError):
    """The sync folder is missing, unreadable, or not this vault's."""


class RollbackError(RemoteError):
    """The sync folder went backwards; reported, never applied."""


class BackupError(VaultError):
    """A backup file is truncated, corrupted, tampered with, or from another vault."""


class ConfigError(VaultError):
    """The config file cannot be read or a setting has the wrong type."""
