"""What the screens a person types into first share: keys typed ahead while the app starts
(Enter, and the keys held while the vault opens), the vault's folder as shown, and the new
password's strength meter and warning (first run, change password, the recovery key)."""

from __future__ import annotations

from pathlib import Path

from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Input

from vault.sealing.strength import estimate


def hold_keys(app: object) -> None:
    """Keep keys typed while the vault opens (the app's key gate) for the screen that follows."""
    hold = getattr(app, "hold_keys", None)
    if hold is not None:
        hold()


def release_keys(app: object) -> None:
    release = getattr(app, "release_keys", None)
    if release is not None:
        release()


def display_path(path: Path) -> str:
    """The vault folder with the home folder shortened to ~."""
    try:
        return "~/" + str(path.expanduser().resolve().relative_to(Path.home().resolve()))
    except (ValueError, OSError):
        return str(path)


# Keys typed while the app starts, before it puts the terminal in raw mode, are read as the
# terminal's line discipline turned them: Enter became a newline, which reads as ctrl+j. On
# the screens one types into at once (unlock, first run), a newline in a field is Enter:
# "password, Enter" typed as `vault` starts unlocked nothing (the Enter was lost).
TYPED_AHEAD_ENTER = Binding("ctrl+j", "enter_typed_ahead", show=False)


class EnterTypedAhead:
    focused: Widget | None

    async def action_enter_typed_ahead(self) -> None:
        field = self.focused
        if isinstance(field, Input) and not field.disabled:
            await field.action_submit()


_METER_STYLES = ("$error", "$error", "$warning", "$success", "$success")


def strength_markup(password: str) -> str:
    if not password:
        return "[$text-muted]Strength: type a password (a few random words work well)[/]"
    result = estimate(password)
    color = _METER_STYLES[result.score]
    bar = "■" * (result.score + 1) + "□" * (4 - result.score)
    return f"[{color}]{bar} {result.label}[/] [$text-muted]· {result.hint}[/]"


def weak_warning(password: str) -> str | None:
    """What to say before a very weak or weak password is used (once: the same password
    confirmed a second time is taken), or None."""
    strength = estimate(password)
    if strength.score > 1:
        return None
    return (
        f"This password is {strength.label}: anyone with a copy of the vault could guess it. "
        "Press Enter again to use it anyway, or choose a longer one (a few random words)."
    )
