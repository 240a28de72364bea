"""Cryptographic primitives, each used in exactly one way (see docs/FORMAT.md).

- XChaCha20-Poly1305-IETF (libsodium through PyNaCl) for every seal; its 192-bit nonce makes
  random nonces safe.
- BLAKE2b (RFC 7693) with a key, a salt and a 16-byte personalisation label for every derived
  key, so no key is ever used for two purposes.
- Argon2id (argon2-cffi) for passwords, parameters stored per key slot (vault.sealing.kdf,
  re-exported here).
- Padding to size buckets (0x80 then zeros, at least 256 bytes, then Padmé) so ciphertext
  lengths reveal little about the plaintext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)
from nacl.exceptions import CryptoError

from vault.errors import IntegrityError
from vault.sealing.kdf import DEFAULT_KDF as DEFAULT_KDF
from vault.sealing.kdf import KEY_BYTES as KEY_BYTES
from vault.sealing.kdf import TEST_KDF as TEST_KDF
from vault.sealing.kdf import KdfParams as KdfParams
from vault.sealing.kdf import _ahead as _ahead
from vault.sealing.kdf import argon2id as argon2id
from vault.sealing.kdf import argon2id_ahead as argon2id_ahead
from vault.sealing.kdf import normalise_password as normalise_password

NONCE_BYTES = 24
SALT_BYTES = 16
TAG_BYTES = 16
AEAD_ALG = "xchacha20poly1305-ietf"

MIN_PADDED = 256


class Label:
    """BLAKE2b personalisation labels: one per purpose, ASCII, zero-padded to 16 bytes."""

    ITEMS = b"vault items"  # items subkey from the master key
    ITEM_KEY = b"vault item key"  # per-item, per-write key from the items subkey
    TAG_ID = b"vault tag id"  # keyed tag ids, so one tag name gives one id everywhere
    MK_ID = b"vault mk id"  # public identifier of a master key (not a key itself)
    SLOT_KEK = b"vault slot kek"  # key-encryption key of a slot
    SLOT_COMMIT = b"vault slot chk"  # key commitment of a slot
    KEYFILE = b"vault keyfile"  # digest of a keyfile's bytes
    PW_KEYFILE = b"vault pw+keyfile"  # combines the password and keyfile secrets
    RECOVERY_CHECK = b"vault recov chk"  # checksum of a recovery key
    RECOVERY_GROUP = b"vault recov grp"  # per-group check characters of a recovery key
    SYNC = b"vault sync"  # sync segments subkey
    BLOBS = b"vault blobs"  # attachments subkey
    BACKUP = b"vault backup"  # backup file subkey
    SNAPSHOT = b"vault snapshot"  # the sealed snapshot of decrypted items (vault.sealing.snapshot)
    NOTEBOOK_MERGE = b"vault nb merge"  # ids of the ops that merge same-path notebooks
    OPS_SUM = b"vault ops sum"  # the keyed commitment over every operation row (vault.store)
    ROTATION = b"vault rotation"  # the boxes of a key rotation record (vault.sync.rotation)
    ROTATION_NAME = b"vault rot name"  # the tags in a rotation record's file name in the folder


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


def random_id() -> str:
    """A fresh opaque identifier: 128 random bits as 32 lowercase hex digits."""
    return os.urandom(16).hex()


def blake2b(
    data: bytes,
    *,
    key: bytes = b"",
    salt: bytes = b"",
    person: bytes = b"",
    size: int = 32,
) -> bytes:
    """BLAKE2b with libsodium's zero-padding of salt and personalisation to 16 bytes."""
    return hashlib.blake2b(data, digest_size=size, key=key, salt=salt, person=person).digest()


def subkey(master_key: bytes, label: bytes) -> bytes:
    """A 256-bit key for one purpose, derived from the master key."""
    return blake2b(b"", key=master_key, person=label)


def seal(key: bytes, nonce: bytes, plaintext: bytes, ad: bytes) -> bytes:
    return crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, nonce, key)


def unseal(key: bytes, nonce: bytes, ciphertext: bytes, ad: bytes, what: str) -> bytes:
    """Open a seal or raise IntegrityError naming `what`; never returns partial plaintext."""
    if _sodium is not None and len(key) == KEY_BYTES and len(nonce) == NONCE_BYTES:
        return _unseal_direct(key, nonce, ciphertext, ad, what)
    try:
        return crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, ad, nonce, key)
    except (CryptoError, ValueError, TypeError):
        raise IntegrityError(
            f"{what} failed to verify (tampered, corrupt, or not this vault's)"
        ) from None


# The same libsodium function, called without PyNaCl's wrapper: the wrapper formats six error
# strings on every call, which is three quarters of the cost of opening a small note and adds
# about 0.1 s to unlocking 10,000 of them. Arguments are checked here instead (key and nonce
# lengths above, the tag length below); without the private module the public binding is used.
try:
    from nacl._sodium import ffi as _ffi
    from nacl._sodium import lib as _sodium
except ImportError:  # pragma: no cover - a PyNaCl without its private module
    _ffi = _sodium = None


def _unseal_direct(key: bytes, nonce: bytes, ciphertext: bytes, ad: bytes, what: str) -> bytes:
    size = len(ciphertext) - TAG_BYTES
    if size < 0:
        raise IntegrityError(f"{what} failed to verify (truncated)")
    message = _ffi.new("unsigned char[]", size)
    length = _ffi.new("unsigned long long *")
    failed = _sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
        message, length, _ffi.NULL, ciphertext, len(ciphertext), ad, len(ad), nonce, key
    )
    if failed:
        raise IntegrityError(f"{what} failed to verify (tampered, corrupt, or not this vault's)")
    return bytes(_ffi.buffer(message, length[0]))


def constant_time_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


# --- padding -----------------------------------------------------------------------------------


def padme(length: int) -> int:
    """Padmé (Nikitin et al., 2019): rounds up so at most ~12% is added and few sizes exist."""
    if length < 2:
        return length
    e = length.bit_length() - 1  # floor(log2(length))
    s = e.bit_length()  # floor(log2(e)) + 1
    mask = (1 << (e - s)) - 1
    return (length + mask) & ~mask


def padded_size(length: int) -> int:
    """Bucket for `length` plaintext bytes plus the 0x80 marker."""
    return max(MIN_PADDED, padme(length + 1))


def pad(data: bytes) -> bytes:
    size = padded_size(len(data))
    return data + b"\x80" + b"\x00" * (size - len(data) - 1)


def unpad(data: bytes) -> bytes:
    """Strip 0x80 00*; raises ValueError if the padding is malformed."""
    stripped = data.rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80:
        raise ValueError("bad padding")
    return stripped[:-1]


# --- encodings ---------------------------------------------------------------------------------


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64d(text: object, size: int | None = None) -> bytes:
    """Standard base64. Decoding is lenient about stray characters (twice as fast as strict
    mode, which matters at unlock); any damage is caught by the authentication tag or the
    length check, never accepted."""
    if not isinstance(text, str) or not text.isascii():
        raise ValueError("not base64 text")
    try:
        data = binascii.a2b_base64(text)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("bad base64") from exc
    if size is not None and len(data) != size:
        raise ValueError("wrong length")
    return data


# --- passwords -------------------------------------------------------------------------------


def creation_kdf(kdf: KdfParams | None, *, allow_weak: bool = False) -> KdfParams:
    """The parameters for a new password slot: calibrated unless given, and above the floor
    unless the caller explicitly asks for test parameters."""
    if kdf is None:
        kdf = calibrate_kdf()
    if allow_weak:
        kdf.check_readable()
    else:
        kdf.check_creatable()
    return kdf


def calibrate_kdf(target_seconds: float = 0.6, max_memory_kib: int = 1024 * 1024) -> KdfParams:
    """Pick Argon2id parameters that take about `target_seconds` on this machine.

    Start at 256 MiB, t=3, p=2 (about 0.4 s on a 2-core machine); grow time cost first, then
    memory, never going below the default. One trial run costs what one unlock costs.
    """
    import time

    params = DEFAULT_KDF
    salt = random_bytes(SALT_BYTES)
    start = time.perf_counter()
    argon2id(b"calibration", salt, params)
    elapsed = max(time.perf_counter() - start, 1e-3)
    if elapsed >= target_seconds:
        return params
    factor = target_seconds / elapsed
    memory = params.memory_kib
    time_cost = params.time_cost
    # Memory hardness matters more against GPUs, so spend the budget on memory up to the cap.
    while factor >= 2 and memory * 2 <= max_memory_kib:
        memory *= 2
        factor /= 2
    time_cost = max(time_cost, min(int(time_cost * factor), 10))
    return KdfParams(memory_kib=memory, time_cost=time_cost, parallelism=params.parallelism)
