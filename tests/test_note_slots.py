"""Notes are slotted (vault.notes.model) and built by hand-written setters for speed
(`from_payload`, `with_body`, `set_unloaded`): a field added to `Note` but not to them would
raise AttributeError only when first read."""

from __future__ import annotations

from vault.notes.model import UNLOADED, Note, set_unloaded, with_body


def test_every_slot_is_set_by_the_fast_builders() -> None:
    made = Note.from_payload("a" * 32, {"kind": "note", "title": "t", "tags": ["x"]}, "v", True)
    copy = with_body(made, "b")
    for note in (made, copy):
        for name in Note.__slots__:
            getattr(note, name)  # AttributeError if a builder missed it
    assert (copy.title, copy.body, copy.tags, copy.version, copy.conflict) == (
        "t",
        "b",
        ("x",),
        "v",
        True,
    )
    set_unloaded(made)
    assert made.body is UNLOADED
