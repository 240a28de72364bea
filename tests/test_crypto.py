"""Primitives and the envelope: round-trip properties, padding, recovery keys, KDF limits."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.errors import (
    CorruptItemError,
    IntegrityError,
    RecoveryKeyError,
    UnsupportedFormatError,
    WeakParametersError,
)
from vault.sealing import crypto, envelope, keys
from vault.sealing.crypto import KdfParams

MK = bytes(32)
ITEMS_KEY = crypto.subkey(MK, crypto.Label.ITEMS)
VAULT_ID = "ab" * 16

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=200),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)


@given(st.binary(max_size=5000))
def test_pad_unpad_round_trip(data: bytes) -> None:
    padded = crypto.pad(data)
    assert crypto.unpad(padded) == data
    assert len(padded) >= 256 and len(padded) == crypto.padded_size(len(data))


@given(st.integers(min_value=0, max_value=10_000_000))
def test_padding_overhead_is_bounded(length: int) -> None:
    size = crypto.padded_size(length)
    assert size > length
    if length >= 256:
        assert size <= (length + 1) * 1.13  # Padmé adds at most ~12 %


def test_few_distinct_sizes() -> None:
    sizes = {crypto.padded_size(n) for n in range(0, 100_000)}
    assert len(sizes) < 200  # 100k lengths collapse into a few buckets


@given(
    title=st.text(max_size=300),
    body=st.text(max_size=3000),
    extra=st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=4),
)
def test_envelope_round_trip(title: str, body: str, extra: dict) -> None:
    payload = {**extra, "kind": "note", "title": title, "body": body}
    item_id = crypto.random_id()
    sealed = envelope.seal_item(ITEMS_KEY, VAULT_ID, "note", item_id, payload)
    assert envelope.open_item(ITEMS_KEY, VAULT_ID, "note", item_id, sealed) == payload
    # nothing but opaque fields in clear
    env = json.loads(sealed)
    assert set(env) == {"v", "id", "kind", "alg", "salt", "nonce", "cipher"}


def test_every_write_uses_fresh_salt_and_nonce() -> None:
    payload = {"kind": "note", "title": "same", "body": "same"}
    a = json.loads(envelope.seal_item(ITEMS_KEY, VAULT_ID, "note", "00" * 16, payload))
    b = json.loads(envelope.seal_item(ITEMS_KEY, VAULT_ID, "note", "00" * 16, payload))
    assert a["salt"] != b["salt"] and a["nonce"] != b["nonce"] and a["cipher"] != b["cipher"]


def _sealed(item_id: str = "11" * 16, kind: str = "note", vault_id: str = VAULT_ID) -> dict:
    payload = {"kind": kind, "title": "t", "body": "b"}
    return json.loads(envelope.seal_item(ITEMS_KEY, vault_id, kind, item_id, payload))


def _flip(b64: str, index: int) -> str:
    raw = bytearray(crypto.b64d(b64))
    raw[index] ^= 0x01
    return crypto.b64e(bytes(raw))


TAMPERS = {
    "flipped cipher byte": lambda e: {**e, "cipher": _flip(e["cipher"], 10)},
    "flipped tag byte": lambda e: {**e, "cipher": _flip(e["cipher"], -1)},
    "flipped nonce byte": lambda e: {**e, "nonce": _flip(e["nonce"], 0)},
    "flipped salt byte": lambda e: {**e, "salt": _flip(e["salt"], 3)},
    "changed alg": lambda e: {**e, "alg": "aes-256-gcm"},
    "changed v": lambda e: {**e, "v": 0},
    "v as a boolean": lambda e: {**e, "v": True},
    "truncated cipher": lambda e: {**e, "cipher": crypto.b64e(crypto.b64d(e["cipher"])[:-20])},
    "cipher not base64": lambda e: {**e, "cipher": "%%%"},
    "missing nonce": lambda e: {k: v for k, v in e.items() if k != "nonce"},
    "id relabelled": lambda e: {**e, "id": "22" * 16},
    "kind relabelled": lambda e: {**e, "kind": "notebook"},
}


@pytest.mark.parametrize("name", list(TAMPERS))
def test_tampered_envelope_is_a_clear_error_naming_the_item(name: str) -> None:
    env = TAMPERS[name](_sealed())
    with pytest.raises(CorruptItemError) as info:
        envelope.open_item(ITEMS_KEY, VAULT_ID, "note", "11" * 16, json.dumps(env))
    assert "11111111" in str(info.value)
    assert info.value.item_id == "11" * 16
    assert "\n" not in str(info.value)


def test_envelope_swapped_between_ids_fails() -> None:
    env = _sealed("33" * 16)
    env["id"] = "11" * 16  # an attacker relabels it too
    with pytest.raises(CorruptItemError):
        envelope.open_item(ITEMS_KEY, VAULT_ID, "note", "11" * 16, json.dumps(env))


def test_envelope_moved_to_another_vault_fails() -> None:
    env = _sealed(vault_id="cd" * 16)
    with pytest.raises(CorruptItemError):
        envelope.open_item(ITEMS_KEY, VAULT_ID, "note", "11" * 16, json.dumps(env))


def test_envelope_from_a_newer_version_says_upgrade() -> None:
    env = {**_sealed(), "v": 2}
    with pytest.raises(UnsupportedFormatError, match="newer version"):
        envelope.open_item(ITEMS_KEY, VAULT_ID, "note", "11" * 16, json.dumps(env))


def test_truncated_envelope_json_fails_cleanly() -> None:
    text = json.dumps(_sealed())
    with pytest.raises(CorruptItemError, match="truncated or corrupt"):
        envelope.open_item(ITEMS_KEY, VAULT_ID, "note", "11" * 16, text[: len(text) // 2])


# --- recovery keys ---------------------------------------------------------------------------


@given(st.binary(min_size=32, max_size=32))
def test_recovery_key_round_trip(secret: bytes) -> None:
    text = keys.format_recovery_key(secret)
    groups = text.split("-")
    assert len(groups) == 14 and all(len(g) == 5 for g in groups)
    assert keys.parse_recovery_key(text) == secret
    # typo-tolerant input: lower case, spaces instead of dashes, line breaks
    assert keys.parse_recovery_key(" ".join(groups).lower()) == secret
    assert (
        keys.parse_recovery_key("\n".join([" ".join(groups[:7]), " ".join(groups[7:])])) == secret
    )


def test_recovery_key_lookalike_digits() -> None:
    secret = bytes(32)
    text = keys.format_recovery_key(secret)
    swapped = text.replace("O", "0").replace("I", "1").replace("B", "8")
    assert keys.parse_recovery_key(swapped) == secret


@given(st.binary(min_size=32, max_size=32), st.integers(0, 13), st.integers(0, 3))
def test_mistyped_group_is_named(secret: bytes, group: int, pos: int) -> None:
    text = keys.format_recovery_key(secret)
    groups = text.split("-")
    chars = list(groups[group])
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    chars[pos] = alphabet[(alphabet.index(chars[pos]) + 1) % 32]
    groups[group] = "".join(chars)
    with pytest.raises(RecoveryKeyError) as info:
        keys.parse_recovery_key("-".join(groups))
    # the group check catches 31 of 32 typos; the overall checksum catches the rest
    assert f"group {group + 1} of 14" in str(info.value) or "checksum" in str(info.value)


def test_recovery_key_of_wrong_length() -> None:
    with pytest.raises(RecoveryKeyError, match="14 groups"):
        keys.parse_recovery_key("ABCDE-FGHIJ")


# --- KDF limits --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        KdfParams(memory_kib=8 * 1024 * 1024, time_cost=3, parallelism=1),
        KdfParams(memory_kib=65536, time_cost=10_000, parallelism=1),
        KdfParams(memory_kib=65536, time_cost=3, parallelism=255),
        KdfParams(memory_kib=4, time_cost=1, parallelism=1),
    ],
)
def test_absurd_kdf_parameters_are_refused_when_reading(params: KdfParams) -> None:
    with pytest.raises(WeakParametersError):
        params.check_readable()


def test_weak_parameters_are_refused_at_creation_without_the_test_option(tmp_path) -> None:
    from vault.notes.vault import Vault

    with pytest.raises(WeakParametersError, match="test option"):
        Vault.create(tmp_path / "v", "pw", kdf=crypto.TEST_KDF)
    assert not (tmp_path / "v" / "vault.json").exists()
    crypto.DEFAULT_KDF.check_creatable()


def test_nfc_normalisation() -> None:
    assert crypto.normalise_password("Cafe\u0301") == crypto.normalise_password("Caf\u00e9")


@given(st.binary(max_size=3000), st.binary(max_size=64))
def test_direct_libsodium_path_agrees_with_pynacl(plaintext: bytes, ad: bytes) -> None:
    from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt

    key, nonce = crypto.random_bytes(32), crypto.random_bytes(24)
    sealed = crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, nonce, key)
    assert crypto.unseal(key, nonce, sealed, ad, "x") == plaintext
    for bad in (sealed[:-1] + bytes([sealed[-1] ^ 1]), sealed[:10], b""):
        with pytest.raises(IntegrityError):
            crypto.unseal(key, nonce, bad, ad, "x")
    with pytest.raises(IntegrityError):
        crypto.unseal(key, nonce, sealed, ad + b"!", "x")


def test_a_derivation_started_ahead_is_taken_once_by_exactly_its_inputs() -> None:
    salt = b"s" * crypto.SALT_BYTES
    params = crypto.TEST_KDF
    expected = crypto.argon2id(b"password", salt, params)
    crypto.argon2id_ahead(b"password", salt, params)
    # Other inputs never take it: another password, salt or cost derives its own.
    assert crypto.argon2id(b"other", salt, params) != expected
    assert crypto.argon2id(b"password", b"t" * crypto.SALT_BYTES, params) != expected
    assert crypto._ahead  # still waiting for its own inputs
    assert crypto.argon2id(b"password", salt, params) == expected
    assert not crypto._ahead  # taken once, then gone
    assert crypto.argon2id(b"password", salt, params) == expected
