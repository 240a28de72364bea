"""Known-answer vectors (tests/vectors/), checked byte for byte by the implementation and by the
independent reader written from docs/FORMAT.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import format_reader as spec
from vault.errors import CorruptItemError
from vault.notes.vault import Vault
from vault.sealing import crypto, envelope, keys, rotation
from vault.sealing.envelope import Claims

VECTORS = Path(__file__).parent / "vectors"


def load(name: str) -> dict:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def test_envelope_vector_seals_to_the_exact_bytes() -> None:
    v = load("envelope.json")
    mk = bytes.fromhex(v["master_key_hex"])
    salt, nonce = bytes.fromhex(v["salt_hex"]), bytes.fromhex(v["nonce_hex"])
    items_key = crypto.subkey(mk, crypto.Label.ITEMS)
    assert items_key.hex() == v["items_key_hex"]
    assert envelope.item_key(items_key, salt, v["item_id"]).hex() == v["item_key_hex"]
    assert envelope.item_ad(v["vault_id"], v["kind"], v["item_id"]).hex() == v["ad_hex"]
    sealed = envelope.seal_item(
        items_key, v["vault_id"], v["kind"], v["item_id"], v["payload"], salt=salt, nonce=nonce
    )
    assert sealed == v["envelope"]
    # and the independent reader seals the same bytes from the spec alone
    assert (
        spec.seal_envelope(mk, v["vault_id"], "note", v["item_id"], v["payload"], salt, nonce)
        == (v["envelope"])
    )


def test_envelope_vector_opens_in_both_readers() -> None:
    v = load("envelope.json")
    mk = bytes.fromhex(v["master_key_hex"])
    items_key = crypto.subkey(mk, crypto.Label.ITEMS)
    opened = envelope.open_item(items_key, v["vault_id"], "note", v["item_id"], v["envelope"])
    assert opened == v["payload"]
    assert (
        spec.open_envelope(mk, v["vault_id"], "note", v["item_id"], v["envelope"]) == v["payload"]
    )
    cipher = crypto.b64d(json.loads(v["envelope"])["cipher"])
    assert len(cipher) == v["padded_len"] + crypto.TAG_BYTES


@pytest.mark.parametrize("slot_name", ["password_slot", "keyfile_slot", "recovery_slot"])
def test_slot_vectors_open_to_the_master_key(slot_name: str) -> None:
    v = load("slots.json")
    mk = bytes.fromhex(v["master_key_hex"])
    raw = json.dumps(v[slot_name]).encode()
    slot = keys.Slot.from_json(raw, slot_name)
    keyfile = VECTORS / v["keyfile"]
    recovery = keys.parse_recovery_key(v["recovery_key"])
    assert recovery.hex() == v["recovery_secret_hex"]
    secret = {
        "password_slot": keys.Secret(v["password"]),
        "keyfile_slot": keys.Secret(v["password"], keyfile),
        "recovery_slot": keys.Secret(recovery=recovery),
    }[slot_name]
    assert slot.try_open(v["vault_id"], secret) == mk
    # re-serialising gives the same document
    assert json.loads(slot.to_json()) == v[slot_name]
    # the independent reader agrees
    got = spec.open_slot(
        v[slot_name],
        v["vault_id"],
        password=v["password"],
        keyfile=keyfile.read_bytes(),
        recovery=recovery,
    )
    assert got == mk


def test_slot_vector_recomputes_byte_for_byte() -> None:
    v = load("slots.json")
    mk = bytes.fromhex(v["master_key_hex"])
    doc = v["password_slot"]
    assert crypto.normalise_password(v["password"]).hex() == v["password_nfc_hex"]
    slot = keys.Slot.from_json(json.dumps(doc).encode(), "vector")
    root = keys._root_secret("password", keys.Secret(v["password"]), slot.kdf, slot.kdf_salt or b"")
    assert root.hex() == v["password_root_hex"]
    kek, commit = keys._kek_and_commit(root)
    assert kek.hex() == v["password_kek_hex"]
    assert crypto.b64e(commit) == doc["commit"]
    ad = keys.slot_ad(v["vault_id"], doc["slot"], "password", v["mk_id"])
    assert crypto.b64e(crypto.seal(kek, crypto.b64d(doc["nonce"]), mk, ad)) == doc["cipher"]
    assert keys.mk_id(mk) == v["mk_id"]


def test_recovery_key_vector_formats_exactly() -> None:
    v = load("slots.json")
    secret = bytes.fromhex(v["recovery_secret_hex"])
    assert keys.format_recovery_key(secret) == v["recovery_key"]
    assert spec.parse_recovery(v["recovery_key"]) == secret


def test_padding_vector() -> None:
    for length, padded in load("padding.json")["cases"]:
        assert crypto.padded_size(length) == padded
        assert len(crypto.pad(b"x" * length)) == padded
        assert len(spec.pad(b"x" * length)) == padded


def test_tag_id_vector(make_vault) -> None:
    v = load("tags.json")
    mk = bytes.fromhex(v["master_key_hex"])
    tag_key = crypto.subkey(mk, crypto.Label.TAG_ID)
    for name, expected in v["cases"]:
        assert crypto.blake2b(name.casefold().encode(), key=tag_key, size=16).hex() == expected
    vault, _ = make_vault()
    # the domain derives tag ids the same way (from its own master key)
    own_key = crypto.subkey(vault.master_key, crypto.Label.TAG_ID)
    assert vault.tag_id("Work") == crypto.blake2b(b"work", key=own_key, size=16).hex()
    assert isinstance(vault, Vault)


def test_tag_id_vectors_run_the_whole_documented_rule() -> None:
    """Non-ASCII tag names (ß, ẞ, Turkish İ and ı, combining marks, compatibility characters,
    odd white space): the independent reader and the implementation give the vector's ids."""
    from types import SimpleNamespace

    from vault.errors import InvalidInputError
    from vault.notes.vault import clean_tag

    v = load("tags.json")
    mk = bytes.fromhex(v["master_key_hex"])
    own = SimpleNamespace(_tag_key=crypto.subkey(mk, crypto.Label.TAG_ID))
    for name, cleaned, folded, expected in v["names"]:
        assert spec.clean_tag(name) == clean_tag(name) == cleaned
        assert cleaned.casefold() == folded
        assert spec.tag_id(mk, name) == Vault.tag_id(own, name) == expected  # type: ignore[arg-type]
    for name in v["rejected"]:
        with pytest.raises(ValueError):
            spec.clean_tag(name)
        with pytest.raises(InvalidInputError):
            clean_tag(name)
    # no normalisation: precomposed and decomposed é are two tags
    ids = {case[0]: case[3] for case in v["names"]}
    assert ids["café"] != ids["cafe\u0301"]
    assert ids["İstanbul"] != ids["Istanbul"] != ids["ıstanbul"]


def _claims(doc: dict) -> Claims:
    return Claims(
        doc["op_id"],
        doc["item_id"],
        doc["kind"],
        tuple(doc["parents"]),
        doc["deleted"],
        doc["device"],
    )


@pytest.mark.parametrize("index", [0, 1, 2])
def test_op_envelope_vector_seals_and_opens_exactly(index: int) -> None:
    """Format 2: the implementation and the reader written from FORMAT.md seal the same bytes,
    and both open them only with the claims they were sealed with."""
    v = load("op_envelope.json")
    case = v["cases"][index]
    mk = bytes.fromhex(v["master_key_hex"])
    items_key = crypto.subkey(mk, crypto.Label.ITEMS)
    assert items_key.hex() == v["items_key_hex"]
    claims = _claims(case["claims"])
    salt, nonce = bytes.fromhex(case["salt_hex"]), bytes.fromhex(case["nonce_hex"])
    assert envelope.op_ad(v["vault_id"], claims).hex() == case["ad_hex"]
    payload = None if claims.deleted else case["payload"]
    sealed = envelope.seal_op(items_key, v["vault_id"], claims, payload, salt=salt, nonce=nonce)
    assert sealed == case["envelope"]
    assert envelope.version_tag(v["vault_id"], claims, sealed) == case["version_tag"]
    spec_sealed = spec.seal_op(mk, v["vault_id"], case["claims"], case["payload"], salt, nonce)
    assert spec_sealed == case["envelope"]
    assert envelope.open_op(items_key, v["vault_id"], claims, sealed) == case["payload"]
    assert spec.open_op(mk, v["vault_id"], case["claims"], sealed) == case["payload"]
    other = "ab" * 16
    for changed in (
        {"op_id": other},
        {"parents": [*case["claims"]["parents"], other]},
        {"parents": list(reversed(case["claims"]["parents"]))} if index == 0 else {"device": other},
        {"deleted": not case["claims"]["deleted"]},
        {"device": other},
        {"item_id": other},
        {"kind": "tag"},
    ):
        lying = {**case["claims"], **changed}
        with pytest.raises(CorruptItemError):
            envelope.open_op(items_key, v["vault_id"], _claims(lying), sealed)
        with pytest.raises(Exception):  # noqa: B017 (the spec reader asserts or fails the tag)
            spec.open_op(mk, v["vault_id"], lying, sealed)


def test_version_1_envelopes_upgrade_to_the_vector_claims() -> None:
    """The version 1 vector, sealed anew with claims (what the upgrade does), opens with them."""
    v1, v2 = load("envelope.json"), load("op_envelope.json")
    mk = bytes.fromhex(v1["master_key_hex"])
    items_key = crypto.subkey(mk, crypto.Label.ITEMS)
    claims = _claims(v2["cases"][0]["claims"])
    upgraded = envelope.upgrade_envelope(items_key, v1["vault_id"], claims, v1["envelope"])
    assert envelope.open_op(items_key, v1["vault_id"], claims, upgraded) == v1["payload"]
    tombstone = envelope.upgrade_envelope(
        items_key, v1["vault_id"], _claims(v2["cases"][1]["claims"]), None
    )
    assert envelope.open_op(
        items_key, v1["vault_id"], _claims(v2["cases"][1]["claims"]), tombstone
    ) == {"kind": "note"}


def test_blob_vectors_derive_and_open_in_both_readers(tmp_path: Path) -> None:
    import base64

    from vault.storage.blobs import (
        VERSION,
        BlobRef,
        BlobStore,
        content_ref,
        padded_length,
        sealed_length,
    )

    v = load("blob.json")
    mk = bytes.fromhex(v["master_key_hex"])
    blobs_key = crypto.subkey(mk, crypto.Label.BLOBS)
    assert blobs_key.hex() == v["blobs_key_hex"]
    store = BlobStore(tmp_path / "blobs", blobs_key)
    store.folder.mkdir()
    assert {case["version"] for case in v["cases"]} == {1, 2, 3} and VERSION == 3
    for case in v["cases"]:
        content = bytes.fromhex(case["content_hex"])
        src = tmp_path / "src"
        src.write_bytes(content)
        # the same name and key, whatever file they came from; vault writes version 3 only
        ref = content_ref(blobs_key, content, case["version"])
        if case["version"] == VERSION:
            assert store.put(src) == ref
        assert (ref.name, ref.key.hex(), ref.size) == (
            case["blob_name"],
            case["blob_key_hex"],
            case["size"],
        )
        assert padded_length(ref.size) == case["padded_length"]
        assert sealed_length(ref.size) == case["sealed_length"]
        blob = bytes.fromhex(case["blob_file_hex"])
        assert len(blob) == case["sealed_length"] and blob[8] == case["version"]
        # the vector's file, put in place, opens to the content in both readers
        store.path(ref.name).write_bytes(blob)
        out = tmp_path / "out"
        with open(out, "wb") as fh:
            store.open(BlobRef(ref.name, ref.size, ref.key), fh)
        assert out.read_bytes() == content
        store.verify(ref)  # and its content hashes to its name and key
        assert spec.read_blob(blob, mk, case["entry"]) == content
        assert base64.b64decode(case["entry"]["key"]) == ref.key


def test_rotation_record_vector_seals_and_opens_in_both_readers() -> None:
    v = load("rotation.json")
    old, new = bytes.fromhex(v["old_master_key_hex"]), bytes.fromhex(v["new_master_key_hex"])
    slot = keys.Slot.from_json(v["recovery_slot"].encode(), "vector")
    made = rotation.make_record(
        v["vault_id"],
        v["device"],
        old,
        new,
        slot,
        nonces=(bytes.fromhex(v["forward_nonce_hex"]), bytes.fromhex(v["back_nonce_hex"])),
    )
    assert made.decode() == v["record"]
    record = rotation.parse_record(made, "vector")
    assert record.name == v["name"]
    ids = (v["old_mk_id"], v["new_mk_id"])
    got_new, got_slot = record.open_forward(old)
    assert got_new == new and got_slot.to_json().decode() == v["recovery_slot"]
    assert record.open_back(new) == old
    # and the independent reader, from SYNC.md alone
    assert spec.open_rotation(made, old) == (new, v["recovery_slot"].encode())
    assert spec.open_rotation(made, new) == (old, None)
    # the tagged names it is published under in the rotating device's folder, in both readers
    ring = {v["old_mk_id"]: old, v["new_mk_id"]: new}
    names = v["folder_names"]
    assert rotation.folder_names(v["vault_id"], v["device"], ring, *ids) == names
    assert spec.rotation_file_names(v["vault_id"], v["device"], old, new) == names
    for name, mk_id in zip(names, ids, strict=True):
        key = {mk_id: ring[mk_id]}
        assert rotation.name_verifies(name, v["vault_id"], v["device"], key)
        assert not rotation.name_verifies(name, v["vault_id"], "b" * 32, key)  # another folder
        assert not rotation.name_verifies(name, "0" * 32, v["device"], key)
        other = {i: k for i, k in ring.items() if i != mk_id}
        assert not rotation.name_verifies(name, v["vault_id"], v["device"], other)


def test_snapshot_vector_opens_in_both_readers(tmp_path: Path) -> None:
    """A version 3 snapshot (FORMAT.md, "The snapshot"): its head and its entries, read by the
    implementation and by the independent reader, exactly as the vector says."""
    import base64

    from vault.sealing import snapshot

    v = load("snapshot.json")
    mk = bytes.fromhex(v["master_key_hex"])
    assert keys.mk_id(mk) == v["mk_id"]
    data = base64.b64decode(v["file_b64"])
    (tmp_path / snapshot.FILE_NAME).write_bytes(data)
    key = crypto.subkey(mk, crypto.Label.SNAPSHOT)
    where = (tmp_path, key, v["vault_id"], v["mk_id"])
    head = snapshot.load_head(*where)
    assert head is not None
    assert (head.high_water, head.notes, head.complete) == (
        v["head"]["hw"],
        v["head"]["k"],
        v["head"]["complete"],
    )
    assert head.trash == set(v["head"]["trash"]) and head.absent == set(v["head"]["absent"])
    assert [list(e) for e in head.entries] == v["head"]["entries"]
    listing = head.listing()
    assert listing is not None and listing[3] is not None
    listing[3].close()
    found = snapshot.read(*where)
    assert found is not None and [list(e) for e in found] == v["entries"]
    assert spec.snapshot_head(data, v["vault_id"], v["mk_id"], mk) == v["head"]
    assert spec.snapshot_entries(data, v["vault_id"], v["mk_id"], mk) == v["entries"]
    # Another vault's reader, or one byte changed, and neither reader opens it.
    assert snapshot.load_head(tmp_path, key, "1f" * 16, v["mk_id"]) is None
    spoiled = bytearray(data)
    spoiled[-300] ^= 1
    (tmp_path / snapshot.FILE_NAME).write_bytes(bytes(spoiled))
    assert snapshot.read(*where) is None
    with pytest.raises(Exception):  # noqa: B017 (CryptoError from PyNaCl)
        spec.snapshot_entries(bytes(spoiled), v["vault_id"], v["mk_id"], mk)
