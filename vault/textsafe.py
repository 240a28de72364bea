"""Text that came from a note, a peer or a file, made safe to show on a terminal.

A title, tag or body can arrive through sync or import, so it is attacker text: an escape
sequence in it could set the clipboard (OSC 52), retitle the window or erase what is on screen.
Every face passes such text through `visible` before it reaches a terminal; the stored text is
never changed, and machine output (`--json`) stays exact.

This module imports nothing but the standard library, so both faces and the domain may use it.
"""

from __future__ import annotations

import re

# C0 controls, DEL and C1 controls; bidirectional overrides and isolates (they reorder what a
# reader sees, "Trojan Source"); line and paragraph separators (some terminals break lines on them).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_UNSAFE_BUT_LAYOUT = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return "^" + chr(code + 0x40)  # caret notation, as `cat -v` shows it: ESC is ^[
    if code == 0x7F:
        return "^?"
    if code <= 0x9F:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def visible(text: str, *, multiline: bool = False) -> str:
    """`text` with every control character shown as visible characters.

    With `multiline`, newlines and tabs are kept (a note body); otherwise they are escaped too,
    so one field stays on one line (a title in a table).
    """
    pattern = _UNSAFE_BUT_LAYOUT if multiline else _UNSAFE
    if pattern.search(text) is None:
        return text  # the common case costs one scan and no copy
    return pattern.sub(_escape, text)


def is_clean(text: str, *, multiline: bool = False) -> bool:
    """True when `visible(text)` would return `text` unchanged."""
    return (_UNSAFE_BUT_LAYOUT if multiline else _UNSAFE).search(text) is None
