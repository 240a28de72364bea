"""Images in the terminal: attachments decoded in memory and drawn with textual-image.

textual-image draws with the Kitty graphics protocol or Sixel where the terminal has one, and
this module falls back to coloured half blocks everywhere else (textual-image's own fallback
off a terminal is letters, which says little about a photo). It asks the terminal what it
can do when it is imported, which must happen before the app starts (Textual reads the
terminal's answers afterwards): the app imports this module at start. It reads the answers
from the keyboard's own stream, so a key already typed (the password, typed as `vault`
starts) was taken for a wrong answer and lost, and the real answer arrived as keys: "abc"
became seven characters in the password field. With keys waiting, the terminal is not asked,
and images are drawn in half blocks this time.

An image's bytes are decrypted into memory only, never to a file, and decoded in a worker
thread; the decoded images of the open note are kept in an `ImageCache`, emptied when the note
changes and when the vault locks.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image as PILImage
from textual.widget import Widget


def _typed_ahead() -> bool:
    """Whether keys are already waiting on the terminal (typed before the app could read).
    Looked at as textual-image reads: with the line discipline's editing off, which is what
    lets typed characters be read before a newline."""
    import select
    import sys

    try:
        import termios
        import tty

        fd = sys.__stdin__.fileno()  # type: ignore[union-attr]
        mode = termios.tcgetattr(fd)
    except (ImportError, AttributeError, OSError, ValueError, termios.error):
        return False  # no terminal to ask (a pipe, a test), or no termios (Windows)
    try:
        tty.setcbreak(fd, termios.TCSANOW)
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, termios.error):
        return False
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, mode)


class _NotATerminal:
    """Stands for standard output while textual-image loads, so it asks the terminal nothing."""

    def isatty(self) -> bool:
        return False


def _load_renderables() -> None:
    import sys

    if not _typed_ahead():
        import textual_image.renderable  # (asks the terminal)

        return
    real, sys.__stdout__ = sys.__stdout__, _NotATerminal()  # type: ignore[assignment]
    try:
        import textual_image.renderable  # noqa: F401  (asks nothing: no terminal to ask)
    finally:
        sys.__stdout__ = real


_load_renderables()

from textual_image.renderable import Image as _DetectedRenderable  # noqa: E402
from textual_image.renderable.sixel import Image as _SixelRenderable  # noqa: E402
from textual_image.renderable.tgp import Image as _TGPRenderable  # noqa: E402
from textual_image.widget import HalfcellImage  # noqa: E402
from textual_image.widget import Image as _DetectedImage  # noqa: E402

MAX_IMAGE_BYTES = 64 * 1024 * 1024  # larger files open with the system viewer instead
MAX_PIXELS = 50_000_000  # a decompression bomb is refused, not decoded

# A terminal with a graphics protocol gets it; any other draws half blocks.
GRAPHICS = _DetectedRenderable in (_SixelRenderable, _TGPRenderable)
ImageView: type[Widget] = _DetectedImage if GRAPHICS else HalfcellImage


class NotAnImage(Exception):
    """The bytes are not an image this app can draw; the message says why, in words."""


def is_image(media_type: str) -> bool:
    return media_type.startswith("image/") and media_type != "image/svg+xml"


def decode_image(data: bytes) -> PILImage.Image:
    """Decode `data` fully (in a worker thread), refusing what is not a picture or too big."""
    try:
        with PILImage.open(io.BytesIO(data)) as opened:
            width, height = opened.size
            if width * height > MAX_PIXELS:
                raise NotAnImage(f"too large to draw ({width}×{height} pixels)")
            opened.load()
            image = opened.convert("RGB") if opened.mode not in ("RGB", "RGBA") else opened
            return image.copy() if image is opened else image
    except NotAnImage:
        raise
    except (OSError, ValueError, SyntaxError, PILImage.DecompressionBombError) as exc:
        raise NotAnImage("not an image this app can draw") from exc


@dataclass(frozen=True)
class Loaded:
    """What became of an image asked for: the picture, or why there is none."""

    image: PILImage.Image | None
    reason: str = ""
    blob: str = ""  # which bytes it came from (another file may take the name later)


class ImageCache:
    """The decoded images of one note, by attachment name. `request(name)` asks the screen to
    load one (a worker); the preview shows a placeholder until it is here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._note_id: str | None = None
        self._images: dict[str, Loaded] = {}
        self._asked: set[str] = set()
        self.request: Callable[[str], None] | None = None

    def for_note(self, note_id: str | None) -> None:
        """Forget the images of another note."""
        with self._lock:
            if note_id != self._note_id:
                self._note_id = note_id
                self._images.clear()
                self._asked.clear()

    @property
    def note_id(self) -> str | None:
        return self._note_id

    def get(self, name: str) -> Loaded | None:
        """The image, or None while it is not loaded (asked for once)."""
        with self._lock:
            found = self._images.get(name)
            ask = found is None and name not in self._asked and self._note_id is not None
            if ask:
                self._asked.add(name)
        if ask and self.request is not None:
            self.request(name)
        return found

    def peek(self, name: str) -> Loaded | None:
        """The image if loaded, without asking for it."""
        with self._lock:
            return self._images.get(name)

    def put(self, note_id: str, name: str, loaded: Loaded) -> bool:
        """Keep a loaded image if it belongs to the note shown; False if it came too late."""
        with self._lock:
            if note_id != self._note_id:
                return False
            self._images[name] = loaded
            return True

    def forget(self, name: str) -> None:
        with self._lock:
            self._images.pop(name, None)
            self._asked.discard(name)

    def clear(self) -> None:
        """Drop every decoded image (locking)."""
        with self._lock:
            self._note_id = None
            self._images.clear()
            self._asked.clear()
