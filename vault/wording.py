"""Counted nouns for people: "1 version", "2 versions", "1,204 notes". One helper for the
app and the CLI, so no message says "1 versions" or "change(s)"."""

from __future__ import annotations

# Nouns whose plural is not the singular plus "s".
_IRREGULAR = {
    "match": "matches",
    "copy": "copies",
    "entry": "entries",
    "sub-notebook": "sub-notebooks",
}


def plural(count: int, noun: str, many: str | None = None) -> str:
    """'1 note', '0 notes', '12,345 notes'; `many` names an irregular plural."""
    if count == 1:
        return f"1 {noun}"
    return f"{count:,} {many or _IRREGULAR.get(noun, noun + 's')}"


def agree(count: int, one: str, many: str) -> str:
    """The verb for `count` things: agree(1, 'does', 'do') -> 'does'."""
    return one if count == 1 else many


def some_of(names: list[str] | tuple[str, ...], prefix: str = "", shown: int = 3) -> str:
    """The first few names, each with `prefix`, and how many more: 'keys/a, keys/b and 2 more'."""
    listed = ", ".join(prefix + name for name in names[:shown])
    more = len(names) - shown
    return f"{listed} and {more:,} more" if more > 0 else listed
