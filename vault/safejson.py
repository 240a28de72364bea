"""JSON from outside (the sync folder, backups, the snapshot, key slots) parsed fail-closed.

`json.loads` raises RecursionError on deeply nested input and returns any JSON type; a parser of
outside data must instead raise one `VaultError` with one line, and check the shape it expects.
Every reader of outside JSON goes through `parse` and the `expect_*` helpers here.
"""

from __future__ import annotations

import json
from typing import Any

from vault.errors import VaultError

# Far deeper than any document the vault writes (at most 4 levels), far shallower than the
# interpreter's recursion limit, so a hostile file is refused before it can cost a stack.
MAX_DEPTH = 32


def _too_deep(text: str, limit: int) -> bool:
    """True when brackets nest more than `limit` deep (counting outside strings only)."""
    if text.count("[") + text.count("{") <= limit:
        return False  # cannot nest deeper than the number of openers: the common case
    depth = 0
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def parse(
    raw: bytes | str,
    what: str,
    error: type[VaultError] = VaultError,
    *,
    max_depth: int = MAX_DEPTH,
    check_depth: bool = True,
) -> Any:
    """Parse `raw` as JSON or raise `error("<what> is not valid JSON")`.

    `check_depth=False` skips the nesting scan for large documents whose bytes were
    authenticated first (the sealed snapshot); RecursionError is still caught.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
        if check_depth and _too_deep(text, max_depth):
            raise error(f"{what} is nested too deeply to be a vault file")
        return json.loads(text)
    except VaultError:
        raise
    except (ValueError, RecursionError, MemoryError):
        # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise error(f"{what} is not valid JSON") from None


def expect_dict(value: Any, what: str, error: type[VaultError] = VaultError) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise error(f"{what} is not a JSON object")
    return value


def expect_list(value: Any, what: str, error: type[VaultError] = VaultError) -> list[Any]:
    if not isinstance(value, list):
        raise error(f"{what} is not a JSON list")
    return value


def field(
    doc: dict[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    what: str,
    error: type[VaultError] = VaultError,
) -> Any:
    """`doc[key]`, checked to be of `kind` (a bool is never taken for an int)."""
    value = doc.get(key)
    wanted = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in wanted:
        raise error(f"{what}: '{key}' has the wrong type")
    if not isinstance(value, wanted):
        raise error(f"{what}: '{key}' is missing or has the wrong type")
    return value
