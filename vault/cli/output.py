"""How the `vault` command writes to the terminal: every line it prints goes through here.

A title, notebook, tag or body can arrive through sync or import, so it is attacker text: an
escape sequence in it could set the clipboard (OSC 52), retitle the window or hide lines, and in
Rich a `[/]` would be parsed as markup (a crash) or `[link=...]` as a hyperlink. So:

- `out` and `info` are the sinks for plain lines: whatever reaches them has its control
  characters shown visibly (`vault.textsafe.visible`, newlines and tabs kept). The CLI's own
  colour codes are added after that, by `out_styled` and the column printer, only on a terminal.
- `field` keeps one note field on one line (a newline in a title shows as `^J`), for lines that
  interpolate a field.
- Rich output is built only from `rich.text.Text` made by `text`, and printed by a console that
  parses no markup, emoji codes or highlights.
- `emit_json` stays exact: JSON escapes C0 controls itself, and C1 controls, bidi controls and
  line separators are written as `\\uXXXX` escapes, which decode to the same text.
"""

from __future__ import annotations

import json
import re
import sys
from typing import IO, Any

from vault.textsafe import visible

# JSON with ensure_ascii=False writes these raw; as \u escapes they parse back to the same text.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def field(value: str) -> str:
    """One field of a note (title, notebook path, tag, file name) as one visible line."""
    return visible(value)


def body(value: str) -> str:
    """A note's body with its control characters shown, its lines and tabs kept."""
    return visible(value, multiline=True)


def _write(stream: IO[str], line: str) -> None:
    stream.write(visible(line, multiline=True) + "\n")


def out(line: str = "") -> None:
    """A line of output on stdout."""
    _write(sys.stdout, line)


def info(line: str) -> None:
    """Progress and notices go to stderr so stdout stays clean for pipes and --json."""
    _write(sys.stderr, line)


def out_styled(line: str, style: str) -> None:
    """A line on stdout in `style` (see vault.cli.columns.STYLES) when stdout is a terminal."""
    from vault.cli.columns import styled

    sys.stdout.write(styled(visible(line, multiline=True), style) + "\n")


def write_body(value: str, *, exact: bool = False) -> None:
    """A note's body on stdout, ending in a newline. `exact` (`vault show --raw`) writes the
    stored text byte for byte into a pipe or file, and visibly escaped on a terminal."""
    if exact and not _isatty(sys.stdout):
        sys.stdout.write(value)
        return
    shown = body(value)
    if exact:
        sys.stdout.write(shown)
    else:
        sys.stdout.write(shown if shown.endswith("\n") or not shown else shown + "\n")


def emit_json(value: Any) -> None:
    try:
        doc = indented_json(value)
    except (_Unusual, RecursionError):
        doc = json.dumps(value, ensure_ascii=False, indent=2)
    sys.stdout.write(json_safe(doc) + "\n")


def json_safe(doc: str) -> str:
    """JSON text with the characters a terminal or an editor would act on or hide written as
    escapes (one character each: a document's pieces can be made safe apart)."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", doc)


def json_list_of(pieces: list[str]) -> str:
    """`indented_json` of a list whose members were written with `pad="\\n  "`, from them."""
    if not pieces:
        return "[]"
    return "[\n  " + ",\n  ".join(pieces) + "\n]"


def error_line(message: str) -> str:
    """The one line of an error on stderr: messages may quote a title or a file name."""
    return f"vault: {visible(message)}\n"


def ask(question: str) -> str:
    """A yes/no question on the terminal; the question may quote a title."""
    return input(f"{visible(question)} [y/N] ")


def text(value: str, style: str = "", *, multiline: bool = False) -> Any:
    """A `rich.text.Text` of outside text: never parsed as markup, controls shown visibly."""
    from rich.text import Text

    return Text(visible(value, multiline=multiline), style=style)


def console(stderr: bool = False) -> Any:
    """A Rich console that treats strings as text: no markup, no emoji codes, no highlighting."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False, markup=False, emoji=False)


def _isatty(stream: object) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


class _Unusual(Exception):
    """A value `indented_json` leaves to the json module (whose output it matches)."""


def indented_json(value: Any, pad: str = "\n") -> str:
    """`json.dumps(value, ensure_ascii=False, indent=2)`, character for character, for the
    JSON the commands print (dicts with string keys, lists, tuples, strings, ints, floats,
    booleans, None; anything else raises `_Unusual`). The json module encodes indented output
    in Python a token at a time: `vault ls --json` at 100,000 notes spent 3.7 s there; this
    writes each string with the json module's own C encoder and joins once."""
    parts: list[str] = []
    add = parts.append
    keys: dict[str, str] = {}  # each key as written, with its ": " (the same few recur)

    def put(item: Any, pad: str) -> None:
        kind = type(item)
        if kind is str:
            add(_encode_string(item))
        elif item is None:
            add("null")
        elif item is True:
            add("true")
        elif item is False:
            add("false")
        elif kind is int:
            add(int.__repr__(item))
        elif kind is float:
            add(_float(item))
        elif kind is dict:
            if not item:
                add("{}")
                return
            inner = pad + "  "
            lead = "{" + inner
            for key, member in item.items():
                name = keys.get(key)
                if name is None:
                    if type(key) is not str:
                        raise _Unusual
                    name = keys[key] = _encode_string(key) + ": "
                # A string, null or a boolean (most members of what the commands print) is
                # written with its key in one piece, without a call for it.
                if type(member) is str:
                    add(lead + name + _encode_string(member))
                elif member is None:
                    add(lead + name + "null")
                elif member is True:
                    add(lead + name + "true")
                elif member is False:
                    add(lead + name + "false")
                else:
                    add(lead + name)
                    put(member, inner)
                lead = "," + inner
            add(pad + "}")
        elif kind is list or kind is tuple:
            if not item:
                add("[]")
                return
            inner = pad + "  "
            lead = "[" + inner
            for member in item:
                add(lead)
                put(member, inner)
                lead = "," + inner
            add(pad + "]")
        else:
            raise _Unusual

    put(value, pad)  # (another pad: the value as a member of a list or object that deep)
    return "".join(parts)


_encode_string = json.encoder.encode_basestring  # the C one when there is one, as json uses


def _float(number: float) -> str:
    if number != number:
        return "NaN"
    if number in (float("inf"), float("-inf")):
        return "Infinity" if number > 0 else "-Infinity"
    return float.__repr__(number)
