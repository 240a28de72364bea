"""Note text on the app's screen: always text, never markup, control characters made visible.

A title, body, notebook or tag can arrive from another device (sync) or a file (import), so
it is attacker text. Given to Textual as a string, `Minutes [/]` ends the app with a
MarkupError, `[@click=app.quit]` runs an action when clicked; written raw, an escape sequence
sets the clipboard or the window title. Every widget that shows such text gets it from here:
`Content` or rich `Text` built from the plain string (never parsed), with
`vault.textsafe.visible` applied, or, where a string of markup must be built around it,
`escaped`. The stored text is never changed.
"""

from __future__ import annotations

import re

from rich.text import Text
from textual.content import Content
from textual.markup import escape

from vault.textsafe import visible

__all__ = ["content", "escaped", "pictured", "shown", "shown_body", "text"]


def shown(value: str) -> str:
    """One field (title, notebook, tag) as one visible line, for plain-text widgets."""
    return visible(value)


def shown_body(value: str) -> str:
    """A body: control characters shown, newlines and tabs kept."""
    return visible(value, multiline=True)


def content(value: str, style: str = "", *, multiline: bool = False) -> Content:
    """A Textual `Content` of outside text (border titles, options, palette hits)."""
    plain = visible(value, multiline=multiline)
    return Content.styled(plain, style) if style else Content(plain)


def text(value: str, style: object = "", *, multiline: bool = False) -> Text:
    """A rich `Text` of outside text (tree labels, table cells, list rows)."""
    return Text(visible(value, multiline=multiline), style=style)  # type: ignore[arg-type]


def escaped(value: str) -> str:
    """Outside text to put inside a string of our own markup: visible, then markup-escaped."""
    return escape(visible(value))


# One visible character for each unsafe one, so a line keeps its length: the editor's cursor
# and selection count characters of the real text. Control Pictures (U+2400...) for C0 and DEL;
# U+FFFD for C1 controls, bidi controls and separators, which have no picture.
_UNSAFE_IN_EDITOR = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"
    return "\ufffd"


def pictured(value: str) -> str:
    """`value` with each unsafe character replaced by one visible character (tabs and newlines
    kept), for a line of the editor, which must keep its columns."""
    if _UNSAFE_IN_EDITOR.search(value) is None:
        return value
    return _UNSAFE_IN_EDITOR.sub(_picture, value)
